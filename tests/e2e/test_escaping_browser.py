"""Names from a data pack reach the page as text only. Every name in this pack (the city, its
stations, grid cells, subdistricts, streets and tip categories) is HTML that would load a broken
image and open an alert if the browser ever parsed it; each must show as the literal text.

The pack is the small city of ``tests/conftest.py``, served by the installed ``yizhan serve``.
"""

from __future__ import annotations

import csv
import json

import pytest
import test_finder_browser as finder
from conftest import (
    grid_features,
    metric_point,
    station_features,
    street_features,
    subdistrict_features,
    write_pack,
)
from shapely.geometry import Point
from test_finder_browser import (
    PHONE_CONTEXT,
    fill_report,
    new_page,
    open_tab,
    result_field,
    show_station,
    submit,
    wait_for_tap,
)

browser = finder.browser
DATA = finder.ROOT / "data"


def hostile(label: str) -> str:
    """A name that is harmless as text and runs script as HTML."""
    return f"<img src=x onerror=\"alert('{label}')\"><b>{label}</b>"


CITY = hostile("城")
STATION = {f"S{i}": hostile(f"驿站S{i}") for i in range(1, 5)}
SUBDISTRICT = {"420100001": hostile("东街道"), "420100002": hostile("西街道")}
STREET = {"中山路": hostile("中山路"), "解放路": hostile("解放路")}


def category_names() -> dict[str, str]:
    with (DATA / "categories.csv").open(encoding="utf-8") as f:
        return {row["code"]: hostile(f"类{row['code']}") for row in csv.DictReader(f)}


def write_hostile_pack(folder):
    stations = station_features()
    for s in stations:
        s["name"] = STATION[s["station_id"]]
    subs = subdistrict_features()
    for s in subs:
        s["name"] = SUBDISTRICT[s["subdistrict_code"]]
    cells = grid_features()
    for c in cells:
        c["name"] = hostile(c["grid_code"])
    streets = street_features()
    for s in streets:
        s["street_name"] = STREET[s["street_name"]]
    tips = [
        {
            "tip_id": f"T{i}",
            "reported_at": f"2026-0{1 + i % 3}-10T09:00:00+08:00",
            "category": "11" if i < 3 else "05",
            "description": hostile(f"描述{i}"),
            "reporter_id": "r-test",
            "status": "open",
            "geometry": Point(lon, lat),
        }
        for i, (lon, lat) in enumerate(
            [(114.001, 30.5012), (114.0012, 30.501), (114.0111, 30.5011), (114.0112, 30.5012)]
        )
    ]
    write_pack(folder, stations=stations, subdistricts=subs, grid=cells, streets=streets, tips=tips)
    (folder / "pack.toml").write_text(f"name = {json.dumps(CITY, ensure_ascii=False)}\n")
    with (DATA / "categories.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names = category_names()
    with (folder / "categories.csv").open("w", encoding="utf-8", newline="") as f:
        out = csv.DictWriter(f, fieldnames=list(rows[0]))
        out.writeheader()
        for row in rows:
            out.writerow({**row, "name": names[row["code"]], "examples": hostile("例")})
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pack = write_hostile_pack(tmp_path_factory.mktemp("hostile") / "pack")
    with finder.serve(tmp_path_factory, "--data", str(pack)) as base:
        yield base


@pytest.fixture
def open_page(browser, server):
    """Open a page of the hostile city; afterwards, no alert opened, no <img src=x> exists, and
    nothing failed to load (a parsed name would fetch /x)."""
    pages, dialogs = [], []

    def opener(path: str, **context_options):
        page = new_page(browser, server, **context_options)
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(server + path)
        pages.append(page)
        return page

    yield opener
    for page in pages:
        assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
        page.context.close()
        assert page.console.errors == []
    assert dialogs == []


def text(page, selector: str) -> str:
    return page.locator(selector).first.inner_text()


def test_finder_shows_every_name_as_text(open_page, server):
    near_s2 = dict(zip(("longitude", "latitude"), metric_point(0.0, 80.0), strict=True))
    phone = open_page("/", **{**PHONE_CONTEXT, "geolocation": near_s2})
    phone.wait_for_function(
        "window.YZ && YZ.markers.length === 4 && !YZ.cluster._inZoomAnimation"
        " && document.getAnimations().length === 0"
    )
    assert CITY in text(phone, "#yz-summary")
    # a marker's name as its title, and its popup
    show_station(phone, "S2")
    marker = phone.locator('[data-station="S2"]')
    assert marker.get_attribute("title") == STATION["S2"]
    marker.click()
    assert text(phone, ".leaflet-popup-content .yz-pop-name") == STATION["S2"]
    # the nearest list (S2 is open day and night)
    phone.click(".yz-locate a")
    phone.wait_for_selector(".yz-near-item")
    assert STATION["S2"] in phone.locator(".yz-near-name").all_inner_texts()
    # the category list, and the answer to a report
    open_tab(phone, "report")
    phone.wait_for_selector("#yz-cat[data-loaded=true]")
    options = phone.locator("#yz-cat option").all_inner_texts()
    assert f"{category_names()['11']}（{hostile('例')}）" in options
    point = fill_report(phone, server, "井盖缺失")
    submit(phone)
    phone.wait_for_selector(".yz-result-dl")
    assert result_field(phone, "类别") == category_names()["11"]
    sub = result_field(phone, "街道")
    assert sub.removesuffix(sub[sub.index("（") :]) in SUBDISTRICT.values()
    street = result_field(phone, "最近道路")
    assert street[: street.index(" · ")] in STREET.values()
    station = result_field(phone, "最近驿站")
    assert station[: station.index(" · ")] in STATION.values()
    # the same hazard again, at the same place (the answer now covers it: a tap from script):
    # the open case nearby is listed first, its names as text
    phone.select_option("#yz-cat", "11")
    phone.evaluate(
        "([lat, lng]) => YZ.map.fire('click', {latlng: L.latLng(lat, lng)})",
        [point["lat"], point["lng"]],
    )
    wait_for_tap(phone)
    phone.click("#yz-submit")
    phone.wait_for_selector(".yz-dup")
    listed = phone.locator(".yz-dup").first
    assert listed.locator("b").inner_text() == category_names()["11"]
    assert set(listed.locator(".yz-dup-meta span").all_inner_texts()) & set(STREET.values())
    # and in 我的上报
    open_tab(phone, "mine")
    phone.wait_for_selector(".yz-mine-item .yz-state")
    assert text(phone, ".yz-mine-item .yz-mine-head b") == category_names()["11"]


def test_heatmap_shows_every_name_as_text(open_page):
    desk = open_page("/maps/heatmap", viewport={"width": 1280, "height": 800})
    desk.wait_for_function("window.YZP && YZP.ready === true")
    assert CITY in text(desk, ".yzp-sub")
    labels = desk.locator(".yzp-cat span:not(.yzp-n)").all_inner_texts()
    assert labels == list(category_names().values())
    assert sorted(desk.locator(".yzp-sublabel").all_inner_texts()) == sorted(SUBDISTRICT.values())
    desk.locator("path.yzp-st").first.hover(force=True)
    assert text(desk, ".leaflet-tooltip.yzp-tip .yzp-pop-title") in STATION.values()


def test_coverage_shows_every_name_as_text(open_page):
    desk = open_page("/maps/coverage?radius_m=300", viewport={"width": 1280, "height": 800})
    desk.wait_for_function("window.YZP && YZP.ready === true")
    desk.locator("path.yzp-cell").first.hover(force=True)
    tip = desk.locator(".leaflet-tooltip.yzp-tip").inner_text()
    assert any(hostile(c["grid_code"]) in tip for c in grid_features())
    assert any(name in tip for name in STATION.values())


def test_gaps_show_every_name_as_text(open_page):
    desk = open_page("/maps/gaps?radius_m=300&count=1", viewport={"width": 1280, "height": 800})
    desk.wait_for_function("window.YZP && YZP.ready === true")
    rows = desk.locator("#yzp-subdistricts tbody tr td:first-child").all_inner_texts()
    assert sorted(rows) == sorted(SUBDISTRICT.values())
    sites = desk.locator("#yzp-sites tbody tr td").all_inner_texts()
    assert any(t in SUBDISTRICT.values() for t in sites) and any(
        t in STREET.values() for t in sites
    )
    desk.click("[data-site='1']")
    popup = desk.locator(".leaflet-popup-content").inner_text()
    assert any(name in popup for name in SUBDISTRICT.values())
    assert any(name in popup for name in STREET.values())
    assert any(hostile(c["grid_code"]) in popup for c in grid_features())
    desk.locator(".leaflet-popup-close-button").click()
    desk.wait_for_selector(".leaflet-popup", state="detached")  # it fades out over the map
    # off the middle, where the suggested site's marker may stand
    desk.locator("path.yzp-gap").first.hover(force=True, position={"x": 6, "y": 6})
    tip = desk.locator(".leaflet-tooltip.yzp-tip").inner_text()
    assert any(name in tip for name in SUBDISTRICT.values())
