"""The desk for staff (案件工作台): the case queue, the cases on a map, a case panel with the
actions the account may take, and the rates per subdistrict and unit.

The page itself holds no case: it is the same for everyone, public, and carries only the city's
reference tables (subdistrict names and outlines, category names) and the words of the case loop
(``vocabulary``, from ``api.services.cases.vocabulary``). After the sign-in form the page's ES
modules (``static/desk/``) ask the staff API for everything else with the token, which stays in
the browser session (``sessionStorage``). Every text from the API is put on the page as text
(``textContent``), never parsed as HTML.

The basemaps are the planning pages': OpenStreetMap, and Tianditu with a key. Gaode is not
offered, as its GCJ-02 tiles would put every case about 500 m off.
"""

from __future__ import annotations

import folium

from geo.city import City
from maps.encode import SCALE
from maps.page import ModuleApp, add_panel
from maps.planning import layer_group, origin, planning_map, subdistrict_table

TITLE = "案件工作台"
CASE_PANEL_PX = 440  # the case panel's width in desk.css, kept clear when the map fits the city


def desk_page(
    city: City,
    *,
    vocabulary: dict,
    page_size: int = 50,
    page_max: int = 500,
    basemap: str = "osm",
    tianditu_key: str = "",
    tile_url_osm: str,
) -> str:
    """The full HTML of the desk. ``page_size`` cases are loaded at a time, at most
    ``page_max`` in one request (the API's limit)."""
    # clear of the case panel on the right (desk.css: 440 px and its margin)
    page, m = planning_map(
        city,
        TITLE,
        tile_url_osm=tile_url_osm,
        tianditu_key=tianditu_key,
        basemap=basemap,
        panel_px=CASE_PANEL_PX,
        margin_px=17,
        zoom_start=13,
    )
    subdistricts = layer_group(m, "街道边界")
    cases = layer_group(m, "案件")
    folium.LayerControl(position="topleft", collapsed=True).add_to(m)
    start = origin(city)
    table = city.categories[["code", "name"]].astype(str)
    data = {
        "city": city.name,
        "page_size": int(page_size),
        "page_max": int(page_max),
        "words": vocabulary,
        "categories": dict(zip(table["code"], table["name"], strict=True)),
        "scale": SCALE,
        "origin": start,
        "subdistricts": {
            "code": city.subdistricts["subdistrict_code"].astype(str).tolist(),
            **subdistrict_table(city, start),
        },
    }
    ModuleApp(
        "desk", "yzDesk", data, {"map": m, "cases": cases, "subdistricts": subdistricts}
    ).add_to(m)
    add_panel(page, "desk_panel.html", title=TITLE, city=city.name)
    return page.render()
