"""The page shell every map shares: the HTML document, a full-screen Leaflet map with local assets,
the basemaps, and the HTML panels rendered from ``maps/templates``.

Every script and stylesheet is served by the app (``maps.assets``); the only external URLs a page
holds are tile templates (and, on the finder, Amap navigation links).
"""

from __future__ import annotations

import html
from urllib.parse import quote

import folium
from branca.element import Element, Figure
from folium.elements import JSCSSMixin
from folium.template import Template
from jinja2 import Environment, FileSystemLoader

from maps import TEMPLATE_DIR
from maps.assets import LEAFLET_CSS, LEAFLET_JS, import_map, own_asset
from maps.encode import script_json

OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
GAODE_URL = (
    "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
    "&x={x}&y={y}&z={z}"
)
TIANDITU_URL = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)
BASEMAP_NAMES = {"osm": "OpenStreetMap", "gaode": "高德地图", "tianditu": "天地图"}

# The HTML panels: every value is escaped unless a template says otherwise (none does).
TEMPLATES = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True)


def latlon(lon: float, lat: float) -> list[float]:
    """Leaflet's ``[lat, lon]`` order, to 1e-7 degree (1 cm); the pages' only axis swap."""
    return [round(float(lat), 7), round(float(lon), 7)]


class Verbatim(Element):
    """Text put on a page as it is.

    Branca's ``Element(text)`` compiles ``text`` as a Jinja template, and a ``MacroElement``'s
    script is compiled again once rendered: a ``{{ ... }}`` in the data (a station's name, say)
    would be run. Everything this project writes on a page goes through here instead (it is
    also faster: a planning page's 0.8 MB of data is not parsed as a template).
    """

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def render(self, **kwargs) -> str:
        return self.text


class PageApp(JSCSSMixin):
    """A page's start-up script (``script_text``, after the map and its layers) and its
    scripts and stylesheets (``default_js``, ``default_css``), all put on the page verbatim."""

    _template = Template("")  # no macros: nothing is compiled from the page's data

    def script_text(self) -> str:
        raise NotImplementedError

    def render(self, **kwargs):
        figure = self.get_root()
        figure.script.add_child(Verbatim(self.script_text()), name=self.get_name())  # type: ignore[attr-defined]  # a Figure's
        super().render(**kwargs)


class ModuleApp(PageApp):
    """A page run by ES modules (``static/<package>/main.js``). Module scripts run after
    Folium's inline script, so that script only stores the page's data and the layers it made
    as ``window.<global_name>``; the import map versions each module (they import each other by
    relative paths), and ``base.css`` and ``<package>.css`` style the page."""

    def __init__(self, package: str, global_name: str, data: dict, layers: dict[str, Element]):
        super().__init__()
        self._name = f"{package.title()}App"
        self.package, self.global_name, self.layers = package, global_name, layers
        self.data_json = script_json(data)
        self.default_css = [
            ("yizhan_base_css", own_asset("base.css")),
            (f"yizhan_{package}_css", own_asset(f"{package}.css")),
        ]

    def script_text(self) -> str:
        fields = [f"    data: {self.data_json}"]
        fields += [f"    {key}: {layer.get_name()}" for key, layer in self.layers.items()]
        return f"window.{self.global_name} = {{\n" + ",\n".join(fields) + "\n};\n"

    def render(self, **kwargs):
        header = self.get_root().header  # type: ignore[attr-defined]  # a Figure's
        imports = script_json(import_map(self.package))
        header.add_child(
            Verbatim(f'<script type="importmap">{imports}</script>'), name="yizhan_import_map"
        )
        main = html.escape(own_asset(f"{self.package}/main.js"))
        header.add_child(
            Verbatim(f'<script type="module" src="{main}"></script>'),
            name=f"yizhan_{self.package}",
        )
        super().render(**kwargs)


def add_panel(page: Figure, template: str, **values) -> None:
    """Render ``maps/templates/<template>`` into the body of ``page``, after the map."""
    html = TEMPLATES.get_template(template).render(**values)
    page.html.add_child(Verbatim(html), name="yizhan_panel")


class Page(Figure):
    """The HTML document: Chinese, a viewport that lets a rider zoom, no favicon request."""

    _template = Template(
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN">\n<head>\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>{{ this.title }}</title>\n"
        '<link rel="icon" href="data:,">\n'
        "{{ this.header.render(**kwargs) }}\n"
        "</head>\n<body>\n"
        "{{ this.html.render(**kwargs) }}\n"
        "<script>\n{{ this.script.render(**kwargs) }}\n</script>\n"
        "</body>\n</html>\n"
    )


class CityMap(folium.Map):
    """``folium.Map`` with local assets and a full-screen container (its own head instead of
    Folium's, which fixes the viewport and sets page styles)."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
            <div class="folium-map yz-map" id={{ this.get_name()|tojson }}></div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.map(
                {{ this.get_name()|tojson }},
                {
                    center: {{ this.location|tojson }},
                    crs: L.CRS.{{ this.crs }},
                    ...{{ this.options|tojavascript }}
                }
            );
            {%- if this.control_scale %}
            L.control.scale({imperial: false}).addTo({{ this.get_name() }});
            {%- endif %}
        {% endmacro %}
        """
    )


class TiandituLayer(folium.raster_layers.Layer):
    """Tianditu vector map plus its annotation layer, as one base layer."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.layerGroup([
                L.tileLayer({{ this.vec|tojson }}, {{ this.options|tojavascript }}),
                L.tileLayer({{ this.cva|tojson }}, {{ this.options|tojavascript }})
            ]);
        {% endmacro %}
        """
    )

    def __init__(self, key: str, *, show: bool):
        super().__init__(name=BASEMAP_NAMES["tianditu"], overlay=False, control=True, show=show)
        self._name = "TiandituLayer"
        key = quote(key, safe="")
        self.vec = TIANDITU_URL.format(layer="vec", key=key)
        self.cva = TIANDITU_URL.format(layer="cva", key=key)
        self.options = {
            "subdomains": "01234567",
            "maxZoom": 18,
            "attribution": "© 天地图",
        }


def city_map(page, bounds, *, zoom_start: int, tile_url_osm: str, show_osm: bool, **options):
    """A map on ``page`` centred on ``bounds`` (lon/lat), Leaflet served locally, with the
    OpenStreetMap basemap (other basemaps are added by the caller)."""
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    m = CityMap(
        location=latlon((minx + maxx) / 2, (miny + maxy) / 2),
        zoom_start=zoom_start,
        tiles=None,
        control_scale=True,
        max_zoom=19,
        **options,
    )
    m.add_to(page)
    m.default_js = list(LEAFLET_JS)
    m.default_css = list(LEAFLET_CSS)
    folium.TileLayer(
        tile_url_osm,
        name=BASEMAP_NAMES["osm"],
        attr="© OpenStreetMap 贡献者",
        max_zoom=19,
        max_native_zoom=19,
        show=show_osm,
    ).add_to(m)
    return m


def gaode_layer(m, *, show: bool) -> folium.TileLayer:
    """The Gaode (高德) basemap; its tiles are in GCJ-02, so the page shifts its overlays."""
    layer = folium.TileLayer(
        GAODE_URL,
        name=BASEMAP_NAMES["gaode"],
        attr="© 高德地图",
        subdomains="1234",
        max_zoom=19,
        max_native_zoom=18,
        show=show,
    )
    layer.add_to(m)
    return layer
