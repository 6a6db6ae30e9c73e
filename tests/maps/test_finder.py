"""The courier page rendered for the small city: markers, open states, escaping, local assets."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re

import pytest
from conftest import assert_assets_are_local, station_features, write_pack
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from geo import crs as gcrs
from geo.city import load_city
from maps import STATIC_DIR
from maps.finder import finder_page, gcj_offset_grid, hours_zh

OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
MONDAY_10 = dt.datetime(2026, 6, 1, 10, 0)  # S1, S2, S3 open; S4 closed by status
MONDAY_13 = dt.datetime(2026, 6, 1, 13, 0)  # S3 at lunch
SATURDAY_21 = dt.datetime(2026, 6, 6, 21, 0)  # only S2 (24/7)
HOSTILE = "<img src=x onerror=alert(1)>"
TEMPLATE_TEXT = "{{ 7*7 }}{% if true %}!{% endif %}{# c #}"  # Jinja syntax, to stay text


def render(city, *, at=MONDAY_10, basemap="osm", key="") -> str:
    return finder_page(city, basemap=basemap, tianditu_key=key, tile_url_osm=OSM, at=at)


def page_data(page: str) -> dict:
    """The data the inline script stores for the page's modules (one JSON line)."""
    found = re.findall(r"^\s*data: (\{.*\}),$", page, flags=re.MULTILINE)
    assert len(found) == 1
    return json.loads(found[0])


def station_data(page: str) -> list[list]:
    """The station rows the page's modules turn into markers."""
    return page_data(page)["stations"]


def by_id(page: str) -> dict[str, dict]:
    return {row[2]["id"]: row[2] for row in station_data(page)}


@pytest.fixture(scope="module")
def hostile_city(tmp_path_factory):
    stations = station_features()
    stations[0]["name"] = HOSTILE
    stations[0]["address"] = '"><script>alert(2)</script>'
    stations[1]["phone"] = '027-2" onclick="alert(3)'
    stations[2]["name"] = "三号" + TEMPLATE_TEXT
    return load_city(write_pack(tmp_path_factory.mktemp("hostile") / "pack", stations=stations))


@pytest.mark.parametrize(
    ("at", "open_ids"),
    [(MONDAY_10, {"S1", "S2", "S3"}), (MONDAY_13, {"S1", "S2"}), (SATURDAY_21, {"S2"})],
)
def test_one_marker_per_station_coloured_by_open_state(small_city, at, open_ids):
    rows = station_data(render(small_city, at=at))
    assert [r[2]["id"] for r in rows] == ["S1", "S2", "S3", "S4"]
    assert {r[2]["id"] for r in rows if r[2]["open"]} == open_ids
    for row in rows:
        badge = "营业中" if row[2]["id"] in open_ids else "已休息"
        assert f'yz-badge-{"open" if row[2]["open"] else "closed"}">{badge}<' in row[2]["popup"]


def test_markers_carry_wgs84_and_gcj02_positions(small_city):
    rows = station_data(render(small_city))
    s3 = next(r for r in rows if r[2]["id"] == "S3")
    assert s3[:2] == [30.5045, 114.0105]
    glon, glat = gcrs.from_wgs84(114.0105, 30.5045, crs="gcj02")
    assert s3[2]["gcj"] == [round(glat, 7), round(glon, 7)]
    assert abs(s3[2]["gcj"][1] - 114.0105) > 0.003  # the shift is real (hundreds of metres)


def test_popup_holds_the_station_details_in_chinese(small_city):
    popup = by_id(render(small_city))["S3"]["popup"]
    for text in ("三号驿站", "解放路3号", "休息", "如厕", "营业中", "最近核实", "2026-05-03"):
        assert text in popup
    assert "周一至周五 09:00-12:00,14:00-18:00；周六、周日 休息" in popup
    assert '<a href="tel:0273">027-3</a>' in popup
    glon, glat = gcrs.from_wgs84(114.0105, 30.5045, crs="gcj02")
    nav = re.search(r'<a class="yz-nav" href="([^"]+)"[^>]*>导航</a>', popup)[1]
    nav = html.unescape(nav)
    assert nav.startswith(f"https://uri.amap.com/navigation?to={glon:.6f},{glat:.6f},")
    assert "&mode=ride&" in nav and "coordinate=gaode" in nav


def test_page_has_the_mobile_frame_and_chinese_labels(small_city):
    page = render(small_city)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert page.count('name="viewport"') == 1
    assert "<title>暖心驿站地图</title>" in page
    assert '<html lang="zh-CN">' in page
    for label in ("附近驿站", "筛选", "上报隐患", "定位", "只看营业中", "提交上报", "用我的位置"):
        assert label in page
    # chips only for amenities some station has: the small city has no wifi station
    chip = '<input type="checkbox" name="amenity" value="ebike_charging"><span>电动车充电</span>'
    assert chip in page
    assert 'value="wifi"' not in page
    assert "测试城 · 3/4 营业中" in page


def test_hostile_text_appears_only_escaped(hostile_city):
    page = render(hostile_city)
    assert HOSTILE not in page
    assert "<script>alert(2)" not in page
    assert 'onclick="alert' not in page
    info = by_id(page)
    s1 = info["S1"]["popup"]
    assert '<b class="yz-pop-name">&lt;img src=x onerror=alert(1)&gt;</b>' in s1
    assert "&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in s1
    assert "<img" not in s1 and "<script" not in s1
    s2 = info["S2"]["popup"]
    assert 'href="tel:02723"' in s2 and "027-2&#34; onclick=&#34;alert(3)" in s2
    assert ' onclick="' not in s2
    # the name reaches the browser only as JSON data (set as a title with the DOM, never parsed)
    assert info["S1"]["name"] == HOSTILE
    assert "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E" in s1  # in the Amap link, quoted
    # and it is never run as a template (the page's script is not compiled by Jinja)
    assert info["S3"]["name"] == "三号" + TEMPLATE_TEXT
    assert f'<b class="yz-pop-name">三号{TEMPLATE_TEXT}</b>' in info["S3"]["popup"]
    assert "三号49" not in page


def test_no_external_script_or_stylesheet(small_city):
    page = render(small_city, key="k")
    urls = assert_assets_are_local(page)
    for url in (
        "/static/vendor/leaflet/leaflet.js",
        "/static/vendor/leaflet/leaflet.css",
        "/static/vendor/markercluster/leaflet.markercluster.js",
        "data:,",
    ):
        assert url in urls
    assert any(u.startswith("/static/yizhan/finder/main.js?v=") for u in urls)
    assert any(u.startswith("/static/yizhan/finder/report.js?v=") for u in urls)  # import map
    # the only absolute URLs are tile templates and the Amap navigation links
    allowed = (
        "https://tile.openstreetmap.org/",
        "https://webrd0{s}.is.autonavi.com/",
        "https://t{s}.tianditu.gov.cn/",
        "https://uri.amap.com/navigation",
    )
    text = page.replace("\\u0026", "&").replace("\\/", "/")
    for url in re.findall(r"(?:https?:)?//[^\s\"'<>\\]+", text):
        assert url.startswith(allowed), url
    assert "cdn" not in page.lower()


def control_entry(name: str) -> str:
    """A base layer's entry in Leaflet's layer control, as Folium writes it."""
    return f"{json.dumps(name)} : "


def _layer_var(page: str, marker: str) -> str:
    for var, url in re.findall(
        r"var (\w+) = L\.(?:tileLayer\(|layerGroup\(\[\s*L\.tileLayer\()\s*\"([^\"]+)\"", page
    ):
        if marker in url:
            return var
    raise AssertionError(f"no layer with {marker}")


@pytest.mark.parametrize(
    ("basemap", "key", "shown"),
    [("osm", "", "openstreetmap"), ("gaode", "", "autonavi"), ("tianditu", "k", "tianditu")],
)
def test_basemaps_offered_and_shown_first(small_city, basemap, key, shown):
    page = render(small_city, basemap=basemap, key=key)
    assert control_entry("OpenStreetMap") in page and control_entry("高德地图") in page
    assert 'subdomains": "1234"' in page
    for marker in ("openstreetmap", "autonavi") + (("tianditu",) if key else ()):
        var = _layer_var(page, marker)
        added = f"{var}.addTo(" in page
        assert added == (marker == shown), (marker, added)


def test_tianditu_only_with_a_key(small_city):
    without = render(small_city, basemap="tianditu", key="")
    assert "tianditu" not in without and control_entry("天地图") not in without
    assert f"{_layer_var(without, 'openstreetmap')}.addTo(" in without  # falls back to OSM
    with_key = render(small_city, key="a&b<c")
    assert control_entry("天地图") in with_key
    assert "vec_w/wmts" in with_key and "cva_w/wmts" in with_key
    assert "tk=a%26b%3Cc" in with_key.replace("\\u0026", "&")


def test_hours_in_chinese():
    assert hours_zh("24/7") == "全天 24 小时"
    assert hours_zh("Mo-Su 08:00-20:00") == "周一至周日 08:00-20:00"
    assert hours_zh("Mo-Fr 07:30-21:00; Sa,Su 09:00-18:00") == (
        "周一至周五 07:30-21:00；周六、周日 09:00-18:00"
    )
    assert hours_zh("Mo-Fr 09:00-17:00; Sa,Su off") == "周一至周五 09:00-17:00；周六、周日 休息"


def test_gcj_offset_grid_holds_geo_crs_offsets_at_its_nodes():
    grid = gcj_offset_grid((114.10, 30.50, 114.21, 30.61))
    # 0.02 degree nodes from a multiple of the step, 0.1 degree beyond the bounds on every side
    assert (grid["x0"], grid["y0"], grid["step"]) == (114.0, 30.4, 0.02)
    assert (grid["nx"], grid["ny"]) == (17, 17)  # 114.00 .. 114.32, 30.40 .. 30.72
    assert len(grid["dlon"]) == len(grid["dlat"]) == 17 * 17
    for i, j in [(0, 0), (16, 0), (0, 16), (7, 9), (16, 16)]:
        lon, lat = 114.0 + 0.02 * i, 30.4 + 0.02 * j
        glon, glat = gcrs.from_wgs84(lon, lat, crs="gcj02")
        k = j * 17 + i  # row-major, south to north, west to east
        assert grid["dlon"][k] == pytest.approx(glon - lon, abs=1e-8)
        assert grid["dlat"][k] == pytest.approx(glat - lat, abs=1e-8)
    assert 0.004 < grid["dlon"][0] < 0.007  # about 500 m: the shift is real


def test_route_serves_the_page_and_its_assets_and_renders_once_a_minute(tmp_path, monkeypatch):
    import maps.finder

    calls = []
    real = maps.finder.finder_page

    def counting(*args, **kwargs):
        calls.append(kwargs["at"])
        return real(*args, **kwargs)

    monkeypatch.setattr(maps.finder, "finder_page", counting)
    settings = Settings(
        data=write_pack(tmp_path / "pack"), db=f"sqlite:///{tmp_path / 't.db'}", basemap="gaode"
    )
    with TestClient(create_app(settings)) as client:
        first = client.get("/")
        second = client.get("/")
        assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
        assert first.text == second.text
        assert len(calls) == 1 or calls[0] != calls[-1]  # twice only across a minute boundary
        assert calls[0].second == 0 and calls[0].tzinfo is None
        urls = re.findall(r"(?:src|href)=\"(/static/[^\"]+)\"", first.text)
        assert len(urls) == 8  # leaflet 2, markercluster 3, our js and css, the shared base.css
        for url in urls:
            assert client.get(url).status_code == 200, url
        assert client.get("/static/vendor/leaflet/images/layers.png").status_code == 200


def test_modules_load_at_versioned_urls_and_plain_urls_revalidate(tmp_path):
    settings = Settings(data=write_pack(tmp_path / "pack"), db=f"sqlite:///{tmp_path / 't.db'}")
    with TestClient(create_app(settings)) as client:
        page = client.get("/").text
        (found,) = re.findall(r'<script type="importmap">(.*?)</script>', page)
        imports = json.loads(found)["imports"]
        modules = sorted((STATIC_DIR / "finder").glob("*.js"))
        assert len(modules) >= 5 and len(imports) == len(modules)
        for path in modules:
            body = path.read_bytes()
            plain = f"/static/yizhan/finder/{path.name}"
            digest = hashlib.sha256(body).hexdigest()[:12]
            assert imports[plain] == f"{plain}?v={digest}"  # a changed file gets a new URL
            versioned = client.get(imports[plain])
            assert versioned.status_code == 200 and versioned.content == body
            assert "no-cache" not in versioned.headers.get("cache-control", "")
            # a browser without import maps asks for the plain URL: it must check for changes
            assert client.get(plain).headers["cache-control"] == "no-cache"
        assert f'<script type="module" src="{imports["/static/yizhan/finder/main.js"]}">' in page
