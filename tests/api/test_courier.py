"""The courier's side of the case loop, on SQLite and on PostGIS: the open cases near a position
(distances to the metre, the box the database searches, the filters and limits) and "me too"
(counted once per reporter, an action with its event, never the reporter's id in public)."""

from __future__ import annotations

import datetime as dt
import json
import threading

import numpy as np
import pytest
from conftest import METRIC, SUB_A, metric_point
from fastapi.testclient import TestClient

from api.app import create_app
from api.services.staff import add_staff
from api.settings import Settings
from api.stores.nearby import search_box
from geo import crs as gcrs
from geo.hours import CITY_TZ

PROBE = (114.0015, 30.5015)
NOW = dt.datetime.now(CITY_TZ)
BASE = {
    "description": "",
    "reporter_id": "r_hidden_reporter",
    "status": "open",
    "grid_code": None,
    "subdistrict_code": SUB_A,
    "street_name": "中山路",
    "street_distance_m": None,
    "nearest_station_id": None,
    "station_distance_m": None,
    "outside_city": False,
}


@pytest.fixture
def client(store_url, small_city):
    with TestClient(create_app(Settings(db=store_url), city=small_city)) as c:
        yield c


def stored(tip_id, dx_m, dy_m, *, category="11", days_ago=1.0, state="reported", **extra):
    lon, lat = metric_point(dx_m, dy_m)
    reported = (NOW - dt.timedelta(days=days_ago)).isoformat()
    return {
        **BASE,
        "tip_id": tip_id,
        "reported_at": reported,
        "category": category,
        "lon": lon,
        "lat": lat,
        "case": {"state": state},
        **extra,
    }


def nearby(client, expect=200, **params):
    query = {"lon": PROBE[0], "lat": PROBE[1], "category": "11", **params}
    r = client.get("/api/tips/nearby", params=query)
    assert r.status_code == expect, r.text
    return r.json()


def test_nearby_lists_open_cases_of_the_category_nearest_first_to_the_metre(client):
    store = client.app.state.store
    tips = [
        stored("T-east-120", 120, 0, description="井盖缺失 <b>x</b>"),
        stored("T-here", 0, 0),
        stored("T-north-199", 0, 199.4, state="dispatched"),
        stored("T-north-201", 0, 200.6),  # just beyond 200 m
        stored("T-other-cat", 10, 0, category="12"),
        stored("T-closed", 20, 0, state="closed"),
        stored("T-rejected", 30, 0, state="rejected"),
        stored("T-suspended", -40, 0, state="suspended"),  # suspended is still open
        stored("T-old", 50, 0, days_ago=7.01),
    ]
    assert store.import_tips(tips) == len(tips)
    body = nearby(client)
    assert (body["radius_m"], body["days"]) == (200, 7)
    got = [(c["tip_id"], c["distance_m"], c["state"]) for c in body["cases"]]
    assert got == [
        ("T-here", 0, "reported"),
        ("T-suspended", 40, "suspended"),
        ("T-east-120", 120, "reported"),
        ("T-north-199", 199, "dispatched"),
    ]
    first = body["cases"][2]
    assert first == {
        "tip_id": "T-east-120",
        "category": "11",
        "category_name": "公用设施",
        "reported_at": first["reported_at"],
        "state": "reported",
        "state_name": "待立案",
        "distance_m": 120,
        "confirmations": 0,
        "street_name": "中山路",
        "description": "井盖缺失 <b>x</b>",
    }
    assert dt.datetime.fromisoformat(first["reported_at"]).utcoffset() == dt.timedelta(hours=8)
    assert body["cases"][3]["state_name"] == "已派遣"
    assert "r_hidden_reporter" not in json.dumps(body, ensure_ascii=False)
    # a wider circle and a longer period
    wider = [c["tip_id"] for c in nearby(client, radius_m=250, days=8)["cases"]]
    assert wider == ["T-here", "T-suspended", "T-old", "T-east-120", "T-north-199", "T-north-201"]
    assert nearby(client, radius_m=250)["cases"][-1]["distance_m"] == 201
    assert [c["tip_id"] for c in nearby(client, category="12")["cases"]] == ["T-other-cat"]
    assert nearby(client, category="13")["cases"] == []


def test_nearby_takes_the_position_in_gcj02(client):
    store = client.app.state.store
    store.import_tips([stored("T-a", 80, 0), stored("T-b", 0, -150)])
    glon, glat = gcrs.from_wgs84(*PROBE, crs="gcj02")
    got = nearby(client, lon=float(glon), lat=float(glat), crs="gcj02")["cases"]
    assert [(c["tip_id"], c["distance_m"]) for c in got] == [("T-a", 80), ("T-b", 150)]
    # the same numbers read as WGS84 are ~500 m away: nothing there
    assert nearby(client, lon=float(glon), lat=float(glat))["cases"] == []


def test_nearby_answers_at_most_the_setting_nearest_first(store_url, small_city):
    settings = Settings(db=store_url, nearby_max_cases=3)
    with TestClient(create_app(settings, city=small_city)) as client:
        store = client.app.state.store
        store.import_tips([stored(f"T-{d:03d}", d, 0) for d in (90, 10, 50, 70, 30)])
        got = [c["tip_id"] for c in nearby(client)["cases"]]
        assert got == ["T-010", "T-030", "T-050"]


def test_nearby_refuses_bad_input_naming_the_field(client):
    for params, field in [
        ({"radius_m": 1001}, "radius_m: 1001 is more than 1000 (YIZHAN_NEARBY_MAX_RADIUS_M)"),
        ({"radius_m": 0}, "radius_m"),
        ({"days": 31}, "days: 31 is more than 30 (YIZHAN_NEARBY_MAX_DAYS)"),
        ({"days": 0}, "days"),
        ({"category": "99"}, "category: '99' is not one of 01"),
        ({"lon": "nan"}, "lon"),
        ({"lat": 95}, "lon/lat"),
        ({"crs": "EPSG:999999"}, "999999"),
    ]:
        detail = nearby(client, expect=422, **params)["detail"]
        assert detail.startswith(field) or field in detail, (params, detail)
    r = client.get("/api/tips/nearby", params={"lon": PROBE[0], "lat": PROBE[1]})
    assert r.status_code == 422 and r.json()["detail"].startswith("category")


@pytest.mark.parametrize("lat", [0.0, 30.5, 55.0, 80.0, -62.0])
def test_the_search_box_holds_the_whole_circle(lat):
    # points exactly 1,000 m away in every direction, measured on the ellipsoid and in the
    # metric CRS of the small city, all lie in the box
    from pyproj import Geod

    lon = 114.0
    azimuths = np.linspace(0, 360, 721)
    glon, glat, _ = Geod(ellps="WGS84").fwd(
        np.full(721, lon), np.full(721, lat), azimuths, np.full(721, 1000.0)
    )
    minx, miny, maxx, maxy = search_box(lon, lat, 1000.0)
    assert ((glon > minx) & (glon < maxx) & (glat > miny) & (glat < maxy)).all()
    if lat == 30.5:
        x0, y0 = gcrs.project(lon, lat, METRIC)
        angle = np.radians(azimuths)
        px, py = gcrs.unproject(x0 + 1000 * np.sin(angle), y0 + 1000 * np.cos(angle), METRIC)
        assert ((px > minx) & (px < maxx) & (py > miny) & (py < maxy)).all()
    # and is not much larger than it: within 5 % of the circle's extent
    assert maxy - miny < 1.05 * (glat.max() - glat.min())
    assert maxx - minx < 1.05 * (glon.max() - glon.min())


# -- me too --------------------------------------------------------------------------------


def post_tip(client, reporter="r_first") -> dict:
    body = {"lon": PROBE[0], "lat": PROBE[1], "category": "11", "reporter_id": reporter}
    r = client.post("/api/tips", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def confirm(client, tip_id, reporter, expect=200) -> dict:
    r = client.post(f"/api/tips/{tip_id}/confirm", json={"reporter_id": reporter})
    assert r.status_code == expect, r.text
    return r.json()


def test_me_too_is_counted_once_per_reporter_as_an_action_with_its_event(client, small_city):
    tip_id = post_tip(client)["tip_id"]
    assert confirm(client, tip_id, "r_second") == {
        "tip_id": tip_id,
        "state": "reported",
        "confirmations": 1,
        "counted": True,
    }
    again = confirm(client, tip_id, "r_second")
    assert (again["confirmations"], again["counted"]) == (1, False)
    own = confirm(client, tip_id, "r_first")  # the tip's own reporter
    assert (own["confirmations"], own["counted"]) == (1, False)
    assert confirm(client, tip_id, "r_third")["confirmations"] == 2

    public = client.get(f"/api/tips/{tip_id}")
    assert public.json()["properties"]["confirmations"] == 2
    assert nearby(client)["cases"][0]["confirmations"] == 2
    store = client.app.state.store
    _, token = add_staff(small_city, store, "admin", role="admin")
    staff = client.get(f"/api/cases/{tip_id}", headers={"Authorization": f"Bearer {token}"})
    history = staff.json()["history"]
    assert [(h["action"], h["from_state"], h["to_state"], h["role"]) for h in history] == [
        ("confirm", "reported", "reported", "reporter"),
        ("confirm", "reported", "reported", "reporter"),
    ]
    assert {(h["note"], h["public_note"], h["staff_id"]) for h in history} == {("", "", None)}
    events = [json.loads(e["payload"]) for e in store.pending_events(NOW + dt.timedelta(1), 10)]
    assert [(e["event"], e["confirmations"], e["to_state"]) for e in events] == [
        ("case.confirm", 1, "reported")  # one pending per case: the oldest
    ]
    assert store.count_events() == 2
    for text in (public.text, staff.text, json.dumps(events)):
        for reporter in ("r_first", "r_second", "r_third"):
            assert reporter not in text


def test_me_too_on_a_closed_or_missing_case_and_bad_bodies(client):
    store = client.app.state.store
    store.import_tips(
        [stored("T-closed", 0, 0, state="closed"), stored("T-rej", 5, 0, state="rejected")]
    )
    assert "closed" in confirm(client, "T-closed", "r_x", expect=409)["detail"]
    assert "rejected" in confirm(client, "T-rej", "r_x", expect=409)["detail"]
    assert confirm(client, "T-missing", "r_x", expect=404)["detail"].startswith("tip_id")
    tip_id = post_tip(client)["tip_id"]
    assert confirm(client, tip_id, "", expect=422)["detail"].startswith("reporter_id")
    assert confirm(client, tip_id, "r" * 65, expect=422)["detail"].startswith("reporter_id")
    r = client.post(f"/api/tips/{tip_id}/confirm", json={"reporter_id": "r", "extra": 1})
    assert r.status_code == 422
    assert client.get(f"/api/tips/{tip_id}").json()["properties"]["confirmations"] == 0


def test_me_too_shares_the_rate_limit_of_tips(store_url, small_city):
    settings = Settings(db=store_url, tip_rate_per_reporter_per_minute=2)
    with TestClient(create_app(settings, city=small_city)) as client:
        first, second = post_tip(client, "r_a")["tip_id"], post_tip(client, "r_b")["tip_id"]
        post_tip(client, "r_busy")  # one tip ...
        assert confirm(client, first, "r_busy")["counted"]  # ... and one "me too": two
        r = client.post(f"/api/tips/{second}/confirm", json={"reporter_id": "r_busy"})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert client.get(f"/api/tips/{second}").json()["properties"]["confirmations"] == 0


def test_reporters_confirming_at_once_are_all_counted(client):
    tip_id = post_tip(client)["tip_id"]
    start = threading.Barrier(4)
    answers = []

    def me_too(n):
        start.wait()
        answers.append(confirm(client, tip_id, f"r_crowd_{n}"))

    threads = [threading.Thread(target=me_too, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a["confirmations"] for a in answers) == [1, 2, 3, 4]
    assert all(a["counted"] for a in answers)
    assert client.get(f"/api/tips/{tip_id}").json()["properties"]["confirmations"] == 4
