"""The planning maps in a real headless Chromium on a desktop screen, against the real server on
the demo city (1,200 tips from January to June 2026, 8 subdistricts). Tiles are blocked: the
maps must work and read without them.

Set ``YIZHAN_UPDATE_DOCS_SCREENSHOT=1`` to copy the screenshots into ``docs/``.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter

import pytest
import shapely
import test_finder_browser as finder
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon, shape
from test_finder_browser import ARTIFACTS, ROOT, api, new_page

# the same installed `yizhan serve` (one per module), browser and console watch as the courier
# page's test
server = finder.server
browser = finder.browser

DESKTOP = {"width": 1280, "height": 800}
MAX_SCREENSHOT_BYTES = 300_000
TO_METRES = Transformer.from_crs(4326, 4547, always_xy=True).transform
# Heat canvas pixels: [drawn at all, at the top of the ramp (red)]
HEAT_PIXELS = """() => {
    const canvas = document.querySelector('canvas.leaflet-heatmap-layer');
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let drawn = 0, red = 0;
    for (let i = 0; i < px.length; i += 4) {
        if (px[i + 3] > 0) drawn++;
        if (px[i] > 200 && px[i + 1] < 90 && px[i + 3] > 200) red++;
    }
    return [drawn, red];
}"""


@pytest.fixture
def desk(browser, server):
    """A fresh desktop-sized page, its console watched, everything but the server blocked."""
    ARTIFACTS.mkdir(exist_ok=True)
    page = new_page(browser, server, viewport=DESKTOP)
    yield page
    page.context.close()
    assert page.console.errors == []


# The page is built, no zoom or CSS transition runs, and the heat layer (on the heatmap) has no
# redraw pending: Leaflet.heat draws on the animation frame after each change.
SETTLED = """() => window.YZP && YZP.ready === true && !YZP.map._animatingZoom
    && !(YZP.heat && YZP.heat._frame) && document.getAnimations().length === 0"""


def settle(page) -> None:
    page.wait_for_function(SETTLED)


def open_map(page, server: str, path: str) -> None:
    page.goto(server + path)
    settle(page)


def screenshot(page, name: str) -> None:
    """A PNG in artifacts/ (256 colours: the heat's smooth gradients make a full-colour PNG of
    the page about 470 KB, about 110 KB this way; the octree keeps the heat's reds)."""
    from PIL import Image  # with the test extras (spopt -> pointpats -> matplotlib)

    settle(page)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    image = Image.open(path).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
        path, optimize=True
    )
    assert 20_000 < path.stat().st_size < MAX_SCREENSHOT_BYTES
    if os.environ.get("YIZHAN_UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(path, ROOT / "docs" / f"{name}.png")


def heat_points(page) -> int:
    return page.evaluate("YZP.heat._latlngs.length")


def heat_weights(page) -> Counter:
    """The heat layer's points: weight per position in 1e-5 degree integers (lon, lat)."""
    points = page.evaluate("YZP.heat._latlngs")
    return Counter({(round(lng * 1e5), round(lat * 1e5)): w for lat, lng, w in points})


def all_tips(server: str) -> list[dict]:
    tips, offset = [], 0
    while True:
        page = api(server, "/api/tips", limit=1000, offset=offset)
        tips += page["features"]
        offset += page["numberReturned"]
        if offset >= page["numberMatched"]:
            return tips


def tip_weights(tips: list[dict]) -> Counter:
    """Tips per position in 1e-5 degree integers (lon, lat), as the heatmap places them."""
    return Counter(
        (round(t["geometry"]["coordinates"][0] * 1e5), round(t["geometry"]["coordinates"][1] * 1e5))
        for t in tips
    )


def test_heatmap_month_view_and_category_filter(desk, server):
    open_map(desk, server, "/maps/heatmap")
    assert desk.title() == "隐患热力图"
    loaded = finder.assert_loaded_locally(desk, server)
    assert server + "/static/vendor/leaflet-heat/leaflet_heat.min.js" in loaded
    canvas = desk.locator("canvas.leaflet-heatmap-layer")
    assert canvas.count() == 1 and canvas.bounding_box()["width"] > 500
    everything = heat_points(desk)
    assert desk.inner_text("#yzp-total") == "1200"
    assert 1000 < everything <= 1200  # one point per distinct position
    months = desk.locator(".yzp-month").all_inner_texts()
    assert months == ["全部", "1月", "2月", "3月", "4月", "5月", "6月"]

    # one month: fewer points, and as many tips as the API counts for that month
    desk.click(".yzp-month[data-month='2']")
    march = api(server, "/api/tips", since="2026-03-01", until="2026-04-01", limit=1)
    assert desk.inner_text("#yzp-total") == str(march["numberMatched"])
    assert 0 < heat_points(desk) < everything
    assert desk.inner_text("#yzp-month-label") == "2026年3月"
    assert desk.get_attribute(".yzp-month[data-month='2']", "aria-pressed") == "true"
    # per-category counts follow the month
    by_cat = {
        code: api(
            server, "/api/tips", since="2026-03-01", until="2026-04-01", category=code, limit=1
        )["numberMatched"]
        for code in ("05", "11")
    }
    labels = desk.locator(".yzp-cat").all_inner_texts()
    assert any(t.startswith("街面秩序") and t.endswith(str(by_cat["05"])) for t in labels)

    # the category filter: only 公用设施 in March
    desk.click("#yzp-none")
    assert heat_points(desk) == 0 and desk.inner_text("#yzp-total") == "0"
    desk.check(".yzp-cat:has-text('公用设施') input")
    assert desk.inner_text("#yzp-total") == str(by_cat["11"])
    assert 0 < heat_points(desk) <= by_cat["11"]

    settle(desk)
    assert desk.evaluate(HEAT_PIXELS)[0] > 1000  # drawn
    desk.click("#yzp-none")
    settle(desk)
    assert desk.evaluate(HEAT_PIXELS) == [0, 0]  # and cleared

    desk.click("#yzp-all")
    desk.click(".yzp-month[data-month='-1']")
    assert heat_points(desk) == everything
    # the busiest 2 % of spots reach the top of the ramp, not only the single busiest one (as
    # Leaflet.heat would scale it): measured 589 red pixels, 112 when scaled to the busiest spot
    settle(desk)
    drawn, red = desk.evaluate(HEAT_PIXELS)
    assert drawn > 100_000 and red > 300
    # stations on top of the heat: 68, in service or not
    assert desk.locator("path.yzp-st").count() == 68
    assert desk.locator("path.yzp-st-closed").count() == 5
    screenshot(desk, "heatmap")


def test_heat_follows_the_tips_of_every_month_and_category(desk, server):
    open_map(desk, server, "/maps/heatmap")
    tips = all_tips(server)
    assert len(tips) == 1200  # the demo city's, below YIZHAN_HEATMAP_RAW_MAX: one point per tip
    months = sorted({t["properties"]["reported_at"][:7] for t in tips})
    names = {c["code"]: c["name"] for c in api(server, "/api/categories")}
    labels = desk.locator(".yzp-cat span:not(.yzp-n)").all_inner_texts()
    codes = [next(code for code, name in names.items() if name == label) for label in labels]
    for index, month in [(-1, None), *enumerate(months)]:
        desk.click(f".yzp-month[data-month='{index}']")
        shown = [t for t in tips if month is None or t["properties"]["reported_at"][:7] == month]
        assert desk.inner_text("#yzp-total") == str(len(shown)), month
        by_cat = Counter(t["properties"]["category"] for t in shown)
        counts = desk.locator(".yzp-n[data-cat]").all_inner_texts()
        assert [int(n) for n in counts] == [by_cat[c] for c in codes], month
        assert heat_weights(desk) == tip_weights(shown), month
    # one category alone in the last month
    desk.click("#yzp-none")
    desk.check(f".yzp-cat:has-text('{names['05']}') input")
    shown = [
        t
        for t in tips
        if t["properties"]["reported_at"][:7] == months[-1] and t["properties"]["category"] == "05"
    ]
    assert len(shown) > 0 and desk.inner_text("#yzp-total") == str(len(shown))
    assert heat_weights(desk) == tip_weights(shown)


def test_coverage_cells_are_drawn_where_the_api_puts_them(desk, server):
    open_map(desk, server, "/maps/coverage")
    # every cell polygon Leaflet draws, by the grid code in its own tooltip: [lng, lat] rings
    drawn = desk.evaluate(
        """() => {
        const out = {};
        const flat = (lls) => lls.map((x) => (Array.isArray(x) ? flat(x) : [x.lng, x.lat]));
        YZP.map.eachLayer((layer) => {
            if (!(layer instanceof L.Polygon) || !layer._path) return;
            if (!layer._path.classList.contains('yzp-cell')) return;
            const dt = [...layer.getTooltip().getContent().querySelectorAll('dt')]
                .find((d) => d.textContent === '网格代码');
            out[dt.nextElementSibling.textContent] = flat(layer.getLatLngs());
        });
        return out;
    }"""
    )
    cells = api(server, "/api/coverage/cells")["features"]
    assert len(drawn) == len(cells) == 2658
    errors_m = []
    for cell in cells:
        rings = drawn[cell["properties"]["grid_code"]]
        polygons = rings if isinstance(rings[0][0][0], list) else [rings]  # one or several
        got = MultiPolygon([Polygon(p[0], p[1:]) for p in polygons])
        want = shape(cell["geometry"])
        want = MultiPolygon([want]) if want.geom_type == "Polygon" else want
        assert [len(p.interiors) for p in got.geoms] == [len(p.interiors) for p in want.geoms]
        # in metres, the city's CGCS2000 zone (EPSG:4547 at 114 E); a vertex within a metre of
        # the next one may merge with it in the page's 1e-5 degree integers
        got, want = (shapely.transform(g, TO_METRES, interleaved=False) for g in (got, want))
        errors_m.append(shapely.hausdorff_distance(got, want, densify=0.25))
    assert max(errors_m) < 1.0, max(errors_m)


def test_coverage_map_legend_cells_and_summary(desk, server):
    open_map(desk, server, "/maps/coverage")
    assert desk.title() == "驿站覆盖图"
    legend = desk.locator("#yzp-legend li")
    assert legend.count() == 6
    assert legend.nth(1).inner_text().startswith("≤ 1000 米（覆盖半径）")
    assert desk.locator("#yzp-legend").is_visible()
    assert desk.locator("path.yzp-cell").count() == 2658
    figures = api(server, "/api/coverage")["city"]
    summary = desk.inner_text("#yzp-summary")
    assert f"{figures['cells_covered']} / 2658" in summary
    assert f"{100 * figures['demand_covered_share']:.1f}%" in summary
    assert "直线" in summary and "1000 米" in summary
    # the legend's cell counts add up to every cell
    counts = [int(t.split()[-2]) for t in legend.all_inner_texts()]
    assert sum(counts) == 2658 and counts[0] + counts[1] == figures["cells_covered"]
    cells = api(server, "/api/coverage/cells")["features"]
    nearest = {f["properties"]["nearest_station_id"] for f in cells}
    assert desk.locator("path.yzp-catchment").count() == len(nearest)  # one per station
    # a cell's tooltip: name, code, distance, nearest station, demand
    desk.locator("path.yzp-band-4").first.hover(force=True)
    tip = desk.wait_for_selector(".leaflet-tooltip.yzp-tip").inner_text()
    for label in ("网格名称", "网格代码", "距离", "最近驿站", "需求"):
        assert label in tip
    desk.mouse.move(5, 795)
    screenshot(desk, "coverage")


def test_gaps_map_table_sites_and_solver(desk, server):
    open_map(desk, server, "/maps/gaps")
    assert desk.title() == "覆盖缺口与选址建议"
    rows = desk.locator("#yzp-subdistricts tbody tr")
    assert rows.count() == 8
    expected = api(server, "/api/gaps")["subdistricts"]
    assert [rows.nth(i).locator("td").first.inner_text() for i in range(8)] == [
        s["name"] for s in expected
    ]
    suggestion = api(server, "/api/sites/suggest", count=5)
    assert desk.locator("[data-site]").count() == 5
    assert desk.inner_text("#yzp-solver") == suggestion["solver"]
    assert ("最优" if suggestion["optimal"] else "非最优") in desk.inner_text("#yzp-optimal")
    after = f"{100 * suggestion['after']['demand_covered_share']:.1f}%"
    assert after in desk.inner_text("#yzp-before-after")
    assert desk.locator(".yzp-rank").count() == 20
    first = suggestion["features"][0]["properties"]
    desk.click("[data-site='1']")
    popup = desk.wait_for_selector(".leaflet-popup-content").inner_text()
    assert "新增覆盖需求" in popup and first["grid_code"] in popup
    assert f"{first['added_demand']:.0f}" in popup
    desk.locator(".leaflet-popup-close-button").click()
    desk.wait_for_selector(".leaflet-popup", state="detached")
    screenshot(desk, "gaps")
