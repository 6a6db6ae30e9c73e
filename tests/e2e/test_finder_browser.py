"""The courier page in a real headless Chromium on a phone-sized screen, against the real server
on the demo city. Tiles are blocked (as on a machine without internet): the page must work anyway.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
from playwright import sync_api
from pyproj import Geod

from geo import crs as gcrs

CHROMIUM = Path(os.environ.get("YIZHAN_TEST_CHROMIUM", "/usr/bin/chromium"))
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
PHONE = {"width": 375, "height": 812}
HOME = {"latitude": 30.5600, "longitude": 114.1480}  # WGS84, in the busiest part of the demo city
PHONE_CONTEXT = {
    "viewport": PHONE,
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "geolocation": HOME,
    "permissions": ["geolocation"],
}
SAVED = "已保存，联网后自动重试"
OPEN_GREEN = "rgb(24, 128, 56)"  # #188038
CLOSED_GREY = "rgb(154, 160, 166)"  # #9aa0a6
# stations on screen: single markers plus the counts written on clusters
ON_SCREEN = """() => document.querySelectorAll('.yz-st').length +
    [...document.querySelectorAll('.yz-cl-in > span')]
        .reduce((n, s) => n + Number(s.textContent), 0)"""


# ------------------------------------------------------------------------------------- fixtures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(tmp_path_factory, *options: str, db: Path | None = None, settings: dict | None = None):
    """``yizhan serve`` (with ``options``, and ``YIZHAN_`` ``settings``) on a free port with a
    SQLite store (``db``, else a fresh one); its URL."""
    port = _free_port()
    db = db or tmp_path_factory.mktemp("e2e") / "t.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIZHAN_")}
    env.update(settings or {})
    # the installed console script, run outside the checkout: what `pip install .` really gives
    yizhan = shutil.which("yizhan")
    assert yizhan, "the yizhan command is not installed (pip install .)"
    cmd = [yizhan, "serve", "--host", "127.0.0.1", "--port", str(port), *options]
    log = tmp_path_factory.mktemp("e2e-log") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--db", f"sqlite:///{db}"], cwd=db.parent, env=env, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(base + "/api/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server did not answer /api/health:\n{log.read_text()}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The demo city served as ``pip install .`` gives it."""
    with serve(tmp_path_factory) as base:
        yield base


def cjk_fonts() -> str:
    """The font families fontconfig offers for Chinese (empty when there is none)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return ""
    found = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True)
    return found.stdout.strip()


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: run tests/system.sh (apt-get install chromium)"
    )
    if not cjk_fonts():
        pytest.fail(
            "no CJK font is installed (`fc-list :lang=zh` lists none), so the pages and their "
            "screenshots would show boxes for every Chinese character: "
            "apt-get install fonts-wqy-microhei",
            pytrace=False,
        )
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


class Console:
    """Console errors and uncaught exceptions, minus tiles that could not be fetched."""

    def __init__(self, base: str):
        self.base = base
        self.errors: list[str] = []
        self.allowed_local: list[str] = []  # local URLs a test makes fail on purpose

    def on_console(self, msg) -> None:
        if msg.type != "error":
            return
        url = (msg.location or {}).get("url", "")
        if msg.text.startswith("Failed to load resource"):
            if not url.startswith(self.base):
                return  # a tile: no internet here
            if any(url.startswith(self.base + p) for p in self.allowed_local):
                return
        self.errors.append(f"{msg.text} ({url})")

    def on_error(self, exc) -> None:
        self.errors.append(f"uncaught: {exc}")


def new_page(browser, server: str, **context_options):
    """A fresh page in its own browser context, its console watched (``page.console``), every
    request outside ``server`` refused as on a machine without internet."""
    context = browser.new_context(locale="zh-CN", **context_options)
    page = context.new_page()
    console = Console(server)
    page.on("console", console.on_console)
    page.on("pageerror", console.on_error)
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(server + "/")
            else route.abort("internetdisconnected")
        ),
    )
    page.console = console
    return page


@pytest.fixture
def phone(browser, server):
    """A fresh phone-sized page on the finder, its console watched, internet blocked."""
    ARTIFACTS.mkdir(exist_ok=True)
    page = new_page(browser, server, **PHONE_CONTEXT)
    page.goto(server + "/")
    page.wait_for_function("window.YZ && YZ.cluster && YZ.markers.length > 0")
    # ready once the opening zoom has settled: every station is on screen, alone or in a cluster
    # (and markercluster's own zoom animation has ended; moves made during it are ignored)
    page.wait_for_function(
        f"({ON_SCREEN})() === 68 && !YZ.cluster._inZoomAnimation", timeout=10_000
    )
    yield page
    page.context.close()
    assert page.console.errors == []


def api(server: str, path: str, **params):
    query = urllib.parse.urlencode(params, doseq=True)
    with urllib.request.urlopen(f"{server}{path}{'?' + query if query else ''}") as r:
        return json.load(r)


def find_tip(server: str, grid_code: str, description: str) -> list[dict]:
    tips = api(server, "/api/tips", grid_code=grid_code, limit=1000)["features"]
    return [t for t in tips if t["properties"]["description"] == description]


def open_tab(page, name: str) -> None:
    tab = page.locator(f".yz-tab[data-tab={name}]")
    if tab.get_attribute("aria-selected") != "true" or (
        page.locator("#yz-sheet").get_attribute("data-open") != "true"
    ):
        tab.click()
    page.wait_for_selector(f".yz-pane[data-pane={name}]:visible")


def clear_map_point(page, server: str) -> dict:
    """A screen point on the visible map, inside the city, with nothing on top of it; the
    position under it in the basemap's datum."""
    candidates = api(server, "/api/tips", limit=200)["features"]
    return page.evaluate(
        """(pts) => {
        const sheetTop = document.getElementById('yz-sheet').getBoundingClientRect().top;
        for (const [lon, lat] of pts) {
            const ll = YZ.frame() === 'gcj02' ? YZ.toGcj(L.latLng(lat, lon)) : L.latLng(lat, lon);
            const p = YZ.map.latLngToContainerPoint(ll).round();
            if (p.x < 60 || p.x > 315 || p.y < 140 || p.y > sheetTop - 30) continue;
            const hit = document.elementFromPoint(p.x, p.y);
            const onMap = hit === YZ.map.getContainer() || hit.closest('.leaflet-tile-pane');
            if (!onMap) continue;
            const at = YZ.map.containerPointToLatLng(p);
            return {x: p.x, y: p.y, lat: at.lat, lng: at.lng};
        }
        return null;
    }""",
        [t["geometry"]["coordinates"] for t in candidates],
    )


def fill_report(page, server: str, description: str) -> dict:
    open_tab(page, "report")
    page.wait_for_selector("#yz-cat[data-loaded=true]")
    page.select_option("#yz-cat", "11")
    page.fill("#yz-desc", description)
    point = clear_map_point(page, server)
    assert point is not None, "no free spot on the map to tap"
    page.mouse.click(point["x"], point["y"])
    wait_for_tap(page)
    return point


def submit(page) -> None:
    """Press 提交上报; when the form first lists open cases of that category nearby (a tip of
    an earlier test at the same spot), send the report anyway (仍要上报)."""
    page.click("#yz-submit")
    page.wait_for_function(
        """() => !document.getElementById('yz-dups').hidden ||
            !document.getElementById('yz-report-msg').textContent.startsWith('正在查看')"""
    )
    if page.is_visible("#yz-send-anyway"):
        page.click("#yz-send-anyway")


def wait_for_tap(page) -> None:
    """Until the page has taken the tap on the map as the report's position."""
    page.wait_for_function(
        "document.getElementById('yz-pos-text').textContent.includes('地图点选')"
    )


def show_station(page, station_id: str) -> None:
    """Zoom in with the cluster layer's own API until the station's marker stands alone, and
    bring it to the middle of the screen (clear of the title and the sheet)."""
    page.evaluate(
        """(id) => new Promise(done => YZ.cluster.zoomToShowLayer(YZ.byId[id], () => {
            YZ.map.panTo(YZ.byId[id].getLatLng(), {animate: false});
            done();
        }))""",
        station_id,
    )
    page.wait_for_selector(f'[data-station="{station_id}"]')


def result_field(page, label: str) -> str:
    """One line of the answer shown after a report (网格, 街道, ...)."""
    return page.evaluate(
        """(label) => [...document.querySelectorAll('.yz-result-dl dt')]
            .find(dt => dt.textContent === label).nextElementSibling.textContent""",
        label,
    )


def queue(page) -> list[dict]:
    return page.evaluate("JSON.parse(localStorage.getItem('yizhan.pendingTips') || '[]')")


# ---------------------------------------------------------------------------------------- tests


def assert_loaded_locally(page, server: str) -> list[str]:
    """Everything the page fetched but images (tiles: refused here) came from the server, and
    the project's own files at their versioned URLs."""
    loaded = page.evaluate(
        "performance.getEntriesByType('resource')"
        ".filter(e => e.initiatorType !== 'img').map(e => e.name)"
    )
    assert loaded and [u for u in loaded if not u.startswith(server + "/")] == []
    own = [u for u in loaded if u.startswith(server + "/static/yizhan/")]
    assert own and [u for u in own if "?v=" not in u] == []
    return loaded


def test_all_stations_load_with_their_open_state(phone, server):
    assert phone.title() == "暖心驿站地图"
    loaded = assert_loaded_locally(phone, server)
    modules = [u for u in loaded if u.startswith(server + "/static/yizhan/finder/")]
    assert len(modules) == len(list((ROOT / "maps" / "static" / "finder").glob("*.js")))
    assert phone.evaluate("YZ.cluster.getLayers().length") == 68
    # what the screen shows adds up to 68: single markers plus the counts on clusters
    assert phone.evaluate(ON_SCREEN) == 68
    at = phone.evaluate("YZ.config.at")
    # open now = status "open" and inside the opening hours (the API's open_now is the hours)
    states = {
        f["id"]: f["properties"]["open_now"] and f["properties"]["status"] == "open"
        for f in api(server, "/api/stations", open_at=at)["features"]
    }
    page_states = phone.evaluate(
        "Object.fromEntries(YZ.markers.map(m => [m.yz.info.id, m.yz.info.open]))"
    )
    assert page_states == states
    assert 0 < sum(states.values()) < 68
    # the colour on screen follows the state (open and closed ones both checked): green, grey
    sample = [s for s, o in states.items() if o][:4] + [s for s, o in states.items() if not o][:4]
    for sid in sample:
        show_station(phone, sid)
        marker = f'[data-station="{sid}"]'
        cls = phone.get_attribute(marker, "class")
        assert ("yz-st-open" if states[sid] else "yz-st-closed") in cls
        colour = phone.eval_on_selector(marker, "el => getComputedStyle(el).backgroundColor")
        assert colour == (OPEN_GREEN if states[sid] else CLOSED_GREY), (sid, colour)


def test_station_popup_and_navigation_link(phone, server):
    station = api(server, "/api/stations")["features"][5]
    sid = station["id"]
    gcj = api(server, f"/api/stations/{sid}", out_crs="gcj02")["geometry"]["coordinates"]
    show_station(phone, sid)
    phone.click(f'[data-station="{sid}"]')
    popup = phone.wait_for_selector(".leaflet-popup-content .yz-pop")
    text = popup.inner_text()
    props = station["properties"]
    assert props["name"] in text and props["address"] in text
    assert ("营业中" if props["open_now"] else "已休息") in text
    for label in ("开放时间", "最近核实", "电话", props["amenity_labels"][0]):
        assert label in text
    nav = popup.query_selector("a.yz-nav")
    assert nav.inner_text() == "导航"
    href = nav.get_attribute("href")
    assert href.startswith(f"https://uri.amap.com/navigation?to={gcj[0]:.6f},{gcj[1]:.6f},")
    assert "mode=ride" in href and nav.get_attribute("target") == "_blank"


def test_locate_lists_three_nearest_open_and_the_filter_applies(phone, server):
    phone.click(".yz-locate a")
    phone.wait_for_selector(".yz-near-item >> nth=2")
    expected = api(
        server,
        "/api/stations/nearest",
        lon=HOME["longitude"],
        lat=HOME["latitude"],
        k=3,
        open_now="true",
    )["features"]
    names = phone.locator(".yz-near-name").all_inner_texts()
    assert names == [f["properties"]["name"] for f in expected]
    links = phone.locator(".yz-near-item a.yz-nav")
    assert links.count() == 3
    assert all("mode=ride" in links.nth(i).get_attribute("href") for i in range(3))

    open_tab(phone, "filter")
    phone.click("#yz-amenities .yz-chip:has-text('电动车充电')")
    with_charging = api(server, "/api/stations", amenity="ebike_charging")["features"]
    assert 0 < len(with_charging) < 68
    assert phone.evaluate("YZ.cluster.getLayers().length") == len(with_charging)
    assert phone.inner_text("#yz-count") == f"显示 {len(with_charging)} / 68 个驿站"
    ids = set(phone.evaluate("YZ.cluster.getLayers().map(m => m.yz.info.id)"))
    assert ids == {f["id"] for f in with_charging}

    expected = api(
        server,
        "/api/stations/nearest",
        lon=HOME["longitude"],
        lat=HOME["latitude"],
        k=3,
        open_now="true",
        amenity="ebike_charging",
    )["features"]
    open_tab(phone, "near")
    phone.wait_for_function(
        "document.getElementById('yz-near-status').textContent.includes('电动车充电')"
    )
    assert phone.locator(".yz-near-name").all_inner_texts() == [
        f["properties"]["name"] for f in expected
    ]

    open_tab(phone, "filter")
    phone.click("#yz-amenities .yz-chip:has-text('电动车充电')")
    assert phone.evaluate("YZ.cluster.getLayers().length") == 68


def test_report_a_hazard_at_a_tapped_position(phone, server):
    description = f"e2e 井盖缺失 {uuid.uuid4().hex[:8]} <b>不是粗体</b>"
    point = fill_report(phone, server, description)
    submit(phone)
    phone.wait_for_selector(".yz-result-dl")
    assert "已上报" in phone.inner_text("#yz-report-msg")
    result = phone.inner_text("#yz-report-result")
    assert description in result and phone.query_selector("#yz-report-result b") is None
    grid_code = result_field(phone, "网格")
    assert grid_code.isdigit() and len(grid_code) in (14, 15)
    tips = find_tip(server, grid_code, description)
    assert len(tips) == 1
    props = tips[0]["properties"]
    assert f"（{props['subdistrict_code']}）" in result_field(phone, "街道")
    assert result_field(phone, "最近道路").startswith(props["street_name"] + " · 约 ")
    station = api(server, f"/api/stations/{props['nearest_station_id']}")["properties"]
    assert result_field(phone, "最近驿站").startswith(station["name"] + " · 约 ")
    lon, lat = tips[0]["geometry"]["coordinates"]
    assert abs(lon - point["lng"]) < 1e-6 and abs(lat - point["lat"]) < 1e-6
    assert queue(phone) == []
    phone.screenshot(path=str(ARTIFACTS / "finder-report.png"))


def test_gaode_basemap_shifts_every_overlay_and_taps_post_gcj02(phone, server):
    phone.hover(".leaflet-control-layers")
    phone.click(".leaflet-control-layers-base label:has-text('高德地图')")
    assert phone.evaluate("YZ.frame()") == "gcj02"
    gcj = {
        f["id"]: f["geometry"]["coordinates"]
        for f in api(server, "/api/stations", out_crs="gcj02")["features"]
    }
    shown = phone.evaluate(
        "YZ.markers.map(m => [m.yz.info.id, m.getLatLng().lng, m.getLatLng().lat])"
    )
    assert len(shown) == 68
    for sid, lon, lat in shown:
        assert abs(lon - gcj[sid][0]) < 2e-7 and abs(lat - gcj[sid][1]) < 2e-7
    # the rider's own position, shifted in the browser, agrees with geo.crs to well under 1 m
    phone.click(".yz-locate a")
    phone.wait_for_selector(".yz-near-item")
    glon, glat = gcrs.from_wgs84(HOME["longitude"], HOME["latitude"], crs="gcj02")
    user = phone.evaluate("YZ.shownPositions().user")
    assert abs(user["lng"] - glon) * 95_900 < 0.5 and abs(user["lat"] - glat) * 110_900 < 0.5

    sent = []
    phone.on("request", lambda r: sent.append(r) if r.url.endswith("/api/tips") else None)
    description = f"e2e 高德点选 {uuid.uuid4().hex[:8]}"
    point = fill_report(phone, server, description)
    report = phone.evaluate("YZ.shownPositions().report")
    # shown where it was tapped, in the basemap's datum
    assert abs(report["lng"] - point["lng"]) < 1e-9 and abs(report["lat"] - point["lat"]) < 1e-9
    submit(phone)
    phone.wait_for_selector(".yz-result-dl")
    body = json.loads(sent[0].post_data)
    assert body["crs"] == "gcj02"
    assert abs(body["lon"] - point["lng"]) < 1e-9 and abs(body["lat"] - point["lat"]) < 1e-9
    grid_code = result_field(phone, "网格")
    (tip,) = find_tip(server, grid_code, description)
    wlon, wlat = gcrs.to_wgs84(point["lng"], point["lat"], crs="gcj02")
    lon, lat = tip["geometry"]["coordinates"]
    assert abs(lon - wlon) < 2e-7 and abs(lat - wlat) < 2e-7

    phone.hover(".leaflet-control-layers")
    phone.click(".leaflet-control-layers-base label:has-text('OpenStreetMap')")
    assert phone.evaluate("YZ.frame()") == "wgs84"
    user = phone.evaluate("YZ.shownPositions().user")
    assert (user["lng"], user["lat"]) == (HOME["longitude"], HOME["latitude"])
    first = phone.evaluate("[YZ.markers[0].yz.info.id, YZ.markers[0].getLatLng()]")
    wgs = api(server, f"/api/stations/{first[0]}")["geometry"]["coordinates"]
    assert abs(first[1]["lng"] - wgs[0]) < 2e-7 and abs(first[1]["lat"] - wgs[1]) < 2e-7


def test_the_pages_own_gcj02_conversion_agrees_with_geo_crs(phone, server):
    # the page's WGS84 -> GCJ-02 and back (finder/coords.js on the offset grid the server sends)
    # at 1,681 points over the stations' extent and 5 km around it, against geo.crs
    lon, lat = np.array(
        [f["geometry"]["coordinates"] for f in api(server, "/api/stations")["features"]]
    ).T
    lon, lat = np.meshgrid(
        np.linspace(lon.min() - 0.05, lon.max() + 0.05, 41),
        np.linspace(lat.min() - 0.05, lat.max() + 0.05, 41),
    )
    lon, lat = lon.ravel(), lat.ravel()
    glon, glat = gcrs.from_wgs84(lon, lat, crs="gcj02")
    got = np.array(
        phone.evaluate(
            """(pts) => pts.map(([lon, lat, glon, glat]) => {
            const gcj = YZ.toGcj(L.latLng(lat, lon));
            const wgs = YZ.toWgs(L.latLng(glat, glon));
            return [gcj.lng, gcj.lat, wgs.lng, wgs.lat];
        })""",
            np.column_stack([lon, lat, glon, glat]).tolist(),
        )
    )
    geod = Geod(ellps="WGS84")
    _, _, to_gcj_m = geod.inv(got[:, 0], got[:, 1], glon, glat)
    _, _, to_wgs_m = geod.inv(got[:, 2], got[:, 3], lon, lat)
    assert to_gcj_m.max() < 0.5 and to_wgs_m.max() < 0.5, (to_gcj_m.max(), to_wgs_m.max())
    _, _, shift_m = geod.inv(lon, lat, glon, glat)
    assert shift_m.min() > 100  # the datums really are apart here


def test_a_report_that_cannot_be_sent_is_kept_and_retried(phone, server):
    phone.console.allowed_local.append("/api/tips")
    posts = []

    def fail_first_post(route):
        if route.request.method != "POST":
            route.continue_()
            return
        posts.append(route.request.headers.get("idempotency-key"))
        if len(posts) == 1:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    phone.route("**/api/tips", fail_first_post)
    description = f"e2e 断网 {uuid.uuid4().hex[:8]}"
    fill_report(phone, server, description)
    submit(phone)
    phone.wait_for_function(f"document.getElementById('yz-report-msg').textContent === '{SAVED}'")
    saved = queue(phone)
    assert len(saved) == 1 and saved[0]["body"]["description"] == description
    assert "待发送 1 条" in phone.inner_text("#yz-pending")

    phone.evaluate("window.dispatchEvent(new Event('online'))")
    phone.wait_for_function(
        "document.getElementById('yz-report-msg').textContent.includes('补发成功')"
    )
    assert queue(phone) == []
    assert posts == [saved[0]["key"], saved[0]["key"]]  # the retry reuses the key
    grid_code = result_field(phone, "网格")
    assert len(find_tip(server, grid_code, description)) == 1


def test_a_report_whose_answer_was_lost_is_stored_once_after_reload(phone, server):
    phone.console.allowed_local.append("/api/tips")
    keys = []

    def lose_first_answer(route):
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            route.fetch()  # the server stores the tip...
            route.abort("connectionreset")  # ...but the phone never hears back
        else:
            route.continue_()

    phone.route("**/api/tips", lose_first_answer)
    description = f"e2e 回执丢失 {uuid.uuid4().hex[:8]}"
    fill_report(phone, server, description)
    submit(phone)
    phone.wait_for_function(f"document.getElementById('yz-report-msg').textContent === '{SAVED}'")
    assert len(queue(phone)) == 1

    phone.reload()  # the next page load retries
    phone.wait_for_function(
        "document.getElementById('yz-report-msg').textContent.includes('补发成功')"
    )
    assert queue(phone) == []
    assert len(keys) == 2 and keys[0] == keys[1]
    grid_code = result_field(phone, "网格")
    assert len(find_tip(server, grid_code, description)) == 1


def test_a_report_answered_429_waits_for_retry_after(phone, server):
    phone.console.allowed_local.append("/api/tips")  # Chromium logs the 429 as an error
    retry_after_s = 4
    posts = []  # when each POST reached the network

    def busy_first(route):
        if route.request.method != "POST":
            route.continue_()
            return
        posts.append(time.monotonic())
        if len(posts) == 1:
            route.fulfill(
                status=429,
                headers={"Retry-After": str(retry_after_s)},
                content_type="application/json",
                body='{"detail": "too many tips from this address"}',
            )
        else:
            route.continue_()

    phone.route("**/api/tips", busy_first)
    description = f"e2e 限流 {uuid.uuid4().hex[:8]}"
    fill_report(phone, server, description)
    submit(phone)
    phone.wait_for_function(
        "document.getElementById('yz-report-msg').textContent === '已保存，稍后自动重试'"
    )
    (saved,) = queue(phone)
    assert saved["body"]["description"] == description
    assert phone.evaluate(f"Date.now() < {saved['not_before']}")  # held back, not dropped
    # a retry round before then does not send it (it would resolve only after the answer)
    phone.evaluate("YZ.retryPending().then(() => null)")
    assert len(posts) == 1 and len(queue(phone)) == 1
    # the hold is kept on the phone: after a reload it is sent once the time has come
    phone.reload()
    phone.wait_for_function(
        "document.getElementById('yz-report-msg').textContent.includes('补发成功')"
    )
    assert len(posts) == 2 and posts[1] - posts[0] >= retry_after_s
    assert queue(phone) == []
    grid_code = result_field(phone, "网格")
    assert len(find_tip(server, grid_code, description)) == 1


def test_screenshot_on_a_phone(phone, server):
    phone.click(".yz-locate a")
    phone.wait_for_selector(".yz-near-item >> nth=2")
    # the zoom has ended, and so have the clusters' fade-in and every other CSS transition
    phone.wait_for_function("!YZ.cluster._inZoomAnimation && document.getAnimations().length === 0")
    path = ARTIFACTS / "finder.png"
    phone.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    # a page wider than the phone would scroll sideways
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    if os.environ.get("YIZHAN_UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(path, ROOT / "docs" / "finder.png")


def test_a_refused_report_is_dropped_from_the_queue_and_given_back(phone, server):
    phone.console.allowed_local.append("/api/tips")  # Chromium logs the 422 as an error
    open_tab(phone, "report")
    phone.wait_for_selector("#yz-cat[data-loaded=true]")
    phone.select_option("#yz-cat", "04")
    description = f"e2e 城外 {uuid.uuid4().hex[:8]}"
    phone.fill("#yz-desc", description)
    phone.evaluate("YZ.map.setZoom(9, {animate: false})")  # a tap at the edge is ~30 km out
    phone.wait_for_function("!YZ.cluster._inZoomAnimation")
    phone.mouse.click(40, 160)
    wait_for_tap(phone)
    submit(phone)
    phone.wait_for_function(
        "document.getElementById('yz-report-msg').textContent.startsWith('提交失败')"
    )
    assert "from the city" in phone.inner_text("#yz-report-msg")  # the server's reason
    assert queue(phone) == []  # not retried forever
    assert phone.input_value("#yz-desc") == description  # the rider can correct and resend
    assert "地图点选" in phone.inner_text("#yz-pos-text")


def test_report_at_the_device_position(phone, server):
    open_tab(phone, "report")
    phone.wait_for_selector("#yz-cat[data-loaded=true]")
    phone.select_option("#yz-cat", "05")
    description = f"e2e 飞线充电 {uuid.uuid4().hex[:8]}"
    phone.fill("#yz-desc", description)
    phone.click("#yz-pos-gps")
    phone.wait_for_function(
        "document.getElementById('yz-pos-text').textContent.includes('我的位置')"
    )
    submit(phone)
    phone.wait_for_selector(".yz-result-dl")
    grid_code = result_field(phone, "网格")
    (tip,) = find_tip(server, grid_code, description)
    lon, lat = tip["geometry"]["coordinates"]
    assert abs(lon - HOME["longitude"]) < 1e-7 and abs(lat - HOME["latitude"]) < 1e-7
    assert tip["properties"]["category_name"] == "街面秩序"
