"""Every endpoint and its error cases, through FastAPI's TestClient on the small city."""

from __future__ import annotations

import json

import pytest
from conftest import SUB_A, cell_code, metric_point, station_features, write_pack
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from geo import crs as gcrs

PROBE = (114.0015, 30.5015)
TIP = {
    "lon": PROBE[0],
    "lat": PROBE[1],
    "crs": "wgs84",
    "category": "11",
    "description": "井盖缺失",
    "reporter_id": "r_secret_42",
}


def make_client(db: str, city, **overrides) -> TestClient:
    """A client of the app on ``city`` (loaded once per session) with the store at ``db``."""
    return TestClient(create_app(Settings(db=db, **overrides), city=city))


@pytest.fixture
def client(store_url, small_city):
    """A client whose tests touch the store: once with SQLite and once with PostGIS."""
    with make_client(store_url, small_city) as c:
        yield c


@pytest.fixture(scope="module")
def api(tmp_path_factory, small_city):
    """A client for the tests that never touch the store: one app for all of them."""
    db = tmp_path_factory.mktemp("api") / "t.db"
    with make_client(f"sqlite:///{db}", small_city) as c:
        yield c


def test_health_counts_layers_and_names_the_store(client, store_url):
    body = client.get("/api/health").json()
    assert body["layers"] == {"stations": 4, "grid": 8, "subdistricts": 2, "streets": 2}
    assert body["store"] == ("postgis" if store_url.startswith("postgresql") else "sqlite")


def test_categories_table(api):
    rows = api.get("/api/categories").json()
    assert {"code": "11", "name": "公用设施"}.items() <= rows[6].items()
    assert [r["code"] for r in rows][:3] == ["01", "02", "03"]


def test_stations_filters(api):
    every = api.get("/api/stations").json()["features"]
    assert sorted(f["id"] for f in every) == ["S1", "S2", "S3", "S4"]
    ebike = api.get("/api/stations", params={"amenity": "ebike_charging"}).json()
    assert sorted(f["id"] for f in ebike["features"]) == ["S2", "S4"]
    both = api.get("/api/stations", params=[("amenity", "ebike_charging"), ("status", "open")])
    assert [f["id"] for f in both.json()["features"]] == ["S2"]
    night = api.get("/api/stations", params={"open_now": "true", "open_at": "2026-06-01T22:30"})
    assert [f["id"] for f in night.json()["features"]] == ["S2"]
    box = api.get("/api/stations", params={"bbox": "114.009,30.5,114.012,30.506"}).json()
    assert [f["id"] for f in box["features"]] == ["S3"]


def test_station_by_id_and_404(api):
    feat = api.get("/api/stations/S3").json()
    assert feat["type"] == "Feature" and feat["geometry"]["coordinates"] == [114.0105, 30.5045]
    props = feat["properties"]
    assert props["amenity_labels"] == ["休息", "如厕"]
    assert props["last_confirmed"] == "2026-05-03"
    missing = api.get("/api/stations/S99")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "station_id 'S99' does not exist"


def test_nearest_sorted_with_nav_url_in_gcj02(api):
    res = api.get("/api/stations/nearest", params={"lon": PROBE[0], "lat": PROBE[1], "k": 2})
    feats = res.json()["features"]
    assert [f["id"] for f in feats] == ["S1", "S2"]
    assert [f["properties"]["distance_m"] for f in feats] == [100.0, 101.0]
    lon, lat = feats[0]["geometry"]["coordinates"]
    glon, glat = gcrs.from_wgs84(lon, lat, crs="gcj02")
    nav = feats[0]["properties"]["nav_url"]
    assert nav.startswith(f"https://uri.amap.com/navigation?to={glon:.6f},{glat:.6f},")
    assert "mode=ride" in nav and "coordinate=gaode" in nav


def test_nearest_gcj02_input_and_output(api):
    glon, glat = gcrs.from_wgs84(*PROBE, crs="gcj02")
    res = api.get(
        "/api/stations/nearest",
        params={"lon": glon, "lat": glat, "crs": "gcj02", "k": 1, "out_crs": "gcj02"},
    )
    feat = res.json()["features"][0]
    assert feat["id"] == "S1" and feat["properties"]["distance_m"] == 100.0
    s1 = metric_point(100.0, 0.0)
    assert feat["geometry"]["coordinates"] == pytest.approx(
        list(gcrs.from_wgs84(*s1, crs="gcj02")), abs=1e-6
    )


def test_nearest_open_now_and_amenity(api):
    params = {
        "lon": PROBE[0],
        "lat": PROBE[1],
        "k": 3,
        "open_now": "true",
        "open_at": "2026-06-01T22:30",
    }
    assert [
        f["id"] for f in api.get("/api/stations/nearest", params=params).json()["features"]
    ] == ["S2"]
    params = {"lon": PROBE[0], "lat": PROBE[1], "amenity": "toilet"}
    feats = api.get("/api/stations/nearest", params=params).json()["features"]
    assert [f["id"] for f in feats] == ["S3"]


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"lon": "abc", "lat": 30.5}, "lon"),
        ({"lon": "nan", "lat": 30.5}, "lon"),
        ({"lon": 114.0, "lat": 95}, "not valid coordinates"),
        ({"lon": 114.0}, "lat: Field required"),
        ({"lon": 114.0, "lat": 30.5, "crs": "mars"}, "got 'mars'"),
        ({"lon": 114.0, "lat": 30.5, "k": 0}, "k: "),
        ({"lon": 114.0, "lat": 30.5, "k": 51}, "YIZHAN_NEAREST_MAX_K"),
        ({"lon": 114.0, "lat": 30.5, "amenity": "sauna"}, "amenity 'sauna'"),
        ({"lon": 114.0, "lat": 30.5, "out_crs": "EPSG:3857"}, "out_crs"),
        ({"lon": 114.0, "lat": 30.5, "open_at": "soon"}, "open_at"),
        ({"lon": 114.0, "lat": 30.5, "status": "gone"}, "status"),
    ],
)
def test_nearest_bad_input_is_422_naming_the_field(api, params, needle):
    res = api.get("/api/stations/nearest", params=params)
    assert res.status_code == 422, res.text
    assert needle in res.json()["detail"]


def test_post_tip_assigns_and_stores(client):
    res = client.post("/api/tips", json=TIP)
    assert res.status_code == 201, res.text
    tip = res.json()
    assert tip["grid_code"] == cell_code(SUB_A, 1) and tip["subdistrict_code"] == SUB_A
    assert tip["street_name"] == "中山路" and tip["street_distance_m"] == pytest.approx(166.3, 0.2)
    assert tip["nearest_station_id"] == "S1" and tip["station_distance_m"] == 100.0
    assert tip["outside_city"] is False and tip["category_name"] == "公用设施"
    assert "reporter_id" not in tip
    assert res.headers["location"] == f"/api/tips/{tip['tip_id']}"
    listed = client.get("/api/tips").json()
    assert listed["numberMatched"] == 1
    assert listed["features"][0]["properties"]["tip_id"] == tip["tip_id"]


def test_post_tip_in_bd09_lands_in_the_same_cell(client):
    blon, blat = gcrs.from_wgs84(114.0075, 30.5045, crs="bd09")
    res = client.post("/api/tips", json={**TIP, "lon": blon, "lat": blat, "crs": "bd09"})
    assert res.status_code == 201
    assert res.json()["grid_code"] == "42010000200103"


def test_tip_outside_city_is_kept(client):
    res = client.post("/api/tips", json={**TIP, "lon": 113.999, "lat": 30.501})
    assert res.status_code == 201 and res.json()["outside_city"] is True
    assert res.json()["grid_code"] is None


def test_tip_far_away_is_refused(client):
    res = client.post("/api/tips", json={**TIP, "lon": 116.4, "lat": 39.9})
    assert res.status_code == 422
    assert "km from the city" in res.json()["detail"]


def test_idempotent_retry_stores_one_tip(client):
    headers = {"Idempotency-Key": "k-123456"}
    first = client.post("/api/tips", json=TIP, headers=headers)
    again = client.post("/api/tips", json=TIP, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert client.get("/api/tips").json()["numberMatched"] == 1
    other = client.post("/api/tips", json={**TIP, "description": "别的"}, headers=headers)
    assert other.status_code == 409
    assert client.get("/api/tips").json()["numberMatched"] == 1


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"category": "99"}, "category: '99' is not one of 01, 02"),
        ({"lon": "abc"}, "lon"),
        ({"lat": 91.0}, "lon/lat"),
        ({"description": "长" * 501}, "description: 501 characters is longer than 500"),
        ({"reporter_id": ""}, "reporter_id"),
        ({"crs": "mars"}, "got 'mars'"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_tips_are_422_naming_the_field(client, change, needle):
    res = client.post("/api/tips", json={**TIP, **change})
    assert res.status_code == 422, res.text
    assert needle in res.json()["detail"]
    assert client.get("/api/tips").json()["numberMatched"] == 0


@pytest.mark.parametrize("missing", ["lon", "lat", "category", "reporter_id"])
def test_missing_fields(api, missing):
    body = {k: v for k, v in TIP.items() if k != missing}
    res = api.post("/api/tips", json=body)
    assert res.status_code == 422 and res.json()["detail"] == f"{missing}: Field required"


def test_nan_in_json_is_refused(api):
    raw = json.dumps(TIP).replace(str(PROBE[0]), "NaN")
    res = api.post("/api/tips", content=raw, headers={"content-type": "application/json"})
    assert res.status_code == 422 and "lon" in res.json()["detail"]


def test_malformed_json_and_huge_body(api):
    res = api.post("/api/tips", content="{not json", headers={"content-type": "application/json"})
    assert res.status_code == 422
    huge = {**TIP, "description": "x" * 100_000}
    res = api.post("/api/tips", json=huge)
    assert res.status_code == 413 and "YIZHAN_MAX_BODY_BYTES" in res.json()["detail"]


def test_tip_listing_filters_and_paging(client):
    for i, (lon, lat, cat) in enumerate(
        [(114.0015, 30.5015, "11"), (114.0075, 30.5045, "05"), (114.0105, 30.5015, "05")]
    ):
        assert (
            client.post(
                "/api/tips",
                json={**TIP, "lon": lon, "lat": lat, "category": cat, "description": f"第{i}条"},
            ).status_code
            == 201
        )
    get = lambda **p: client.get("/api/tips", params=p).json()  # noqa: E731
    assert get(category="05")["numberMatched"] == 2
    assert get(subdistrict_code=SUB_A)["numberMatched"] == 1
    assert get(grid_code="42010000200103")["features"][0]["properties"]["description"] == "第1条"
    assert get(bbox="114.009,30.5,114.012,30.506")["numberMatched"] == 1
    assert get(since="2000-01-01", until="2000-02-01")["numberMatched"] == 0
    page = get(limit=2)
    assert page["numberReturned"] == 2 and page["numberMatched"] == 3
    assert "offset=2" in page["links"][0]["href"]
    assert get(limit=2, offset=2)["numberReturned"] == 1
    assert client.get("/api/tips", params={"limit": 5000}).status_code == 422
    assert client.get("/api/tips", params={"since": "yesterday"}).status_code == 422


def test_reporter_never_public(client):
    tip = client.post("/api/tips", json=TIP).json()
    for path in ("/api/tips", f"/api/tips/{tip['tip_id']}", "/api/tips?out_crs=gcj02"):
        assert "r_secret_42" not in client.get(path).text
        assert "reporter" not in client.get(path).text


def test_tip_by_id_and_404(client):
    tip = client.post("/api/tips", json=TIP).json()
    assert (
        client.get(f"/api/tips/{tip['tip_id']}").json()["properties"]["grid_code"]
        == (tip["grid_code"])
    )
    assert client.get("/api/tips/nope").status_code == 404


def test_rate_limit_per_reporter_says_when_to_retry(tmp_path, small_city):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    with make_client(db, small_city, tip_rate_per_reporter_per_minute=2) as c:
        codes = [c.post("/api/tips", json=TIP).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        refused = c.post("/api/tips", json=TIP)
        assert refused.status_code == 429
        assert "YIZHAN_TIP_RATE_PER_REPORTER_PER_MINUTE" in refused.json()["detail"]
        wait = int(refused.headers["retry-after"])
        assert 1 <= wait <= 60
        assert f"retry in {wait} s" in refused.json()["detail"]
        # another rider behind the same address is not held back by the first one's limit
        other = c.post("/api/tips", json={**TIP, "reporter_id": "r_other"})
        assert other.status_code == 201
        assert c.get("/api/tips").json()["numberMatched"] == 3


def test_rate_limit_per_address(tmp_path, small_city):
    db = f"sqlite:///{tmp_path / 'a.db'}"
    with make_client(db, small_city, tip_rate_per_address_per_minute=3) as c:
        codes = [
            c.post("/api/tips", json={**TIP, "reporter_id": f"r{i}"}).status_code for i in range(4)
        ]
        assert codes == [201, 201, 201, 429]
        refused = c.post("/api/tips", json={**TIP, "reporter_id": "r9"})
        assert "YIZHAN_TIP_RATE_PER_ADDRESS_PER_MINUTE" in refused.json()["detail"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # a retry of a stored tip is answered from the store, not limited
        key = {"Idempotency-Key": "k-limited"}
        with make_client(db, small_city, tip_rate_per_address_per_minute=1) as d:
            assert d.post("/api/tips", json=TIP, headers=key).status_code == 201
            assert d.post("/api/tips", json=TIP, headers=key).status_code == 201
            assert d.post("/api/tips", json={**TIP, "reporter_id": "x"}).status_code == 429


def test_old_rate_setting_name_sets_the_address_limit(monkeypatch):
    monkeypatch.setenv("YIZHAN_TIP_RATE_PER_MINUTE", "7")
    assert Settings().tip_rate_per_address_per_minute == 7
    monkeypatch.setenv("YIZHAN_TIP_RATE_PER_ADDRESS_PER_MINUTE", "9")
    assert Settings().tip_rate_per_address_per_minute == 9


def test_pack_tips_are_imported_once(tmp_path, store_url):
    from shapely.geometry import Point

    tips = [
        {
            "tip_id": "T1",
            "reported_at": "2026-03-01T08:00:00+08:00",
            "category": "05",
            "description": "消防通道堵塞",
            "reporter_id": "r9",
            "status": "open",
            "geometry": Point(114.0075, 30.5045),
        }
    ]
    pack = write_pack(tmp_path / "pack", tips=tips)
    settings = Settings(data=pack, db=store_url)
    for _ in range(2):
        with TestClient(create_app(settings)) as c:
            body = c.get("/api/tips").json()
            assert body["numberMatched"] == 1
            assert body["features"][0]["properties"]["grid_code"] == "42010000200103"


def test_hostile_station_text_is_returned_as_data(tmp_path):
    stations = station_features()
    stations[0]["name"] = "<img src=x onerror=alert(1)>"
    pack = write_pack(tmp_path / "pack", stations=stations)
    settings = Settings(data=pack, db=f"sqlite:///{tmp_path / 'h.db'}")
    with TestClient(create_app(settings)) as c:
        feat = c.get("/api/stations/S1").json()
        assert feat["properties"]["name"] == "<img src=x onerror=alert(1)>"
        assert c.get("/api/stations/S1").headers["content-type"] == "application/json"


def test_bad_db_url_fails_clearly(tmp_path):
    from geo.errors import InvalidInput

    settings = Settings(data=write_pack(tmp_path / "pack"), db="mysql://x")
    with pytest.raises(InvalidInput, match="not supported"), TestClient(create_app(settings)):
        pass


def test_closed_station_is_never_open_now(api):
    feat = api.get("/api/stations/S4", params={"open_at": "2026-06-01T10:00"}).json()
    assert feat["properties"]["status"] == "closed"
    assert feat["properties"]["open_now"] is False  # its hours say 24/7, its status says closed


def test_huge_offset_is_422_not_500(api):
    assert api.get("/api/tips", params={"offset": 2**63}).status_code == 422


def test_pages_are_compressed(api):
    res = api.get("/api/stations", headers={"accept-encoding": "gzip"})
    assert res.headers.get("content-encoding") == "gzip"
    assert res.headers.get("vary") == "Accept-Encoding"


@pytest.mark.parametrize(
    "path",
    ["/api/stations", "/api/stations/nearest?lon=114.0015&lat=30.5015&k=3", "/"],
)
def test_gzip_answers_hold_the_same_json(api, path):
    plain = api.get(path, headers={"accept-encoding": "identity"})
    packed = api.get(path, headers={"accept-encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(plain.content)  # it did compress
    assert packed.text == plain.text  # httpx decompressed it


def test_answers_to_clients_without_gzip_are_plain_and_vary(api):
    big = api.get("/api/stations", headers={"accept-encoding": "identity"})
    assert big.status_code == 200
    assert "content-encoding" not in big.headers
    assert int(big.headers["content-length"]) == len(big.content) >= 1024
    assert big.json()["type"] == "FeatureCollection"
    # a cache must not serve this plain copy to a gzip api: same Vary as a compressed answer
    assert big.headers.get("vary") == "Accept-Encoding"
    small = api.get("/api/health", headers={"accept-encoding": "identity"})
    assert int(small.headers["content-length"]) < 1024
    assert "vary" not in small.headers  # never compressed at this size, as with Starlette
