"""Planning endpoints on the small city: coverage, cells, gaps, suggestions and their errors."""

from __future__ import annotations

import pytest
from conftest import write_pack
from fastapi.testclient import TestClient
from shapely.geometry import Point

from api.app import create_app
from api.settings import Settings

# two tips in cell 0101 of the west subdistrict (S1 is 100 m from its centroid) and three in
# cell 0102 of the east one, whose centroid (114.0105, 30.5015) is 333 m (0.003 degree of
# latitude) south of the nearest open station S3: uncovered at radius 300 m
TIPS = [
    {
        "tip_id": f"T{i}",
        "reported_at": f"2026-0{1 + i % 3}-10T09:00:00+08:00",
        "category": "11" if i < 3 else "05",
        "description": "",
        "reporter_id": "r",
        "status": "open",
        "geometry": Point(lon, lat),
    }
    for i, (lon, lat) in enumerate(
        [
            (114.001, 30.5012),
            (114.0012, 30.501),
            (114.0111, 30.5011),
            (114.0112, 30.5012),
            (114.0113, 30.5013),
        ]
    )
]


@pytest.fixture
def client(tmp_path, store_url):
    pack = write_pack(tmp_path / "pack", tips=TIPS)
    with TestClient(create_app(Settings(data=pack, db=store_url))) as c:
        yield c


def test_coverage_summary(client):
    body = client.get("/api/coverage", params={"radius_m": 300}).json()
    assert body["radius_m"] == 300 and body["metric"] == "euclidean"
    assert body["city"]["demand"] == 5
    assert body["city"]["demand_covered"] == 2
    wide = client.get("/api/coverage", params={"radius_m": 340}).json()
    assert wide["city"]["demand_covered"] == 5
    names = [s["name"] for s in body["subdistricts"]]
    assert names == ["东湖街道", "西湖街道"]


def test_coverage_cells_and_filters(client):
    cells = client.get("/api/coverage/cells", params={"radius_m": 300}).json()["features"]
    assert len(cells) == 8
    by_code = {f["properties"]["grid_code"]: f["properties"] for f in cells}
    assert by_code["42010000200102"]["demand"] == 3
    assert by_code["42010000200102"]["distance_m"] == pytest.approx(333.0, abs=1.0)
    assert by_code["42010000200102"]["nearest_station_id"] == "S3"
    only_05 = client.get("/api/coverage/cells", params={"category": "05"}).json()["features"]
    assert sum(f["properties"]["demand"] for f in only_05) == 2
    early = client.get("/api/coverage", params={"until": "2026-02-01"}).json()
    assert early["city"]["demand"] == 2  # T0 and T3 are in January


def test_gaps_ranked(client):
    body = client.get("/api/gaps", params={"radius_m": 300, "top": 5}).json()
    ranked = [f["properties"]["grid_code"] for f in body["features"]]
    assert ranked == ["42010000200102"]
    assert body["features"][0]["properties"]["rank"] == 1
    assert body["subdistricts"][0]["subdistrict_code"] == "420100002"


def test_suggest_one_site(client):
    body = client.get(
        "/api/sites/suggest", params={"count": 1, "radius_m": 300, "min_spacing_m": 50}
    ).json()
    assert body["optimal"] is True and body["solver"].startswith("HiGHS")
    assert body["before"]["demand_covered"] == 2 and body["after"]["demand_covered"] == 5
    site = body["features"][0]["properties"]
    assert site["added_demand"] == 3 and site["subdistrict_code"] == "420100002"


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"radius_m": "far"}, "radius_m"),
        ({"radius_m": -5}, "radius_m"),
        ({"metric": "flying"}, "metric"),
        ({"demand": "cars"}, "demand"),
        ({"category": "99"}, "category"),
        ({"since": "last week"}, "since"),
    ],
)
def test_planning_errors(client, params, needle):
    for path in ("/api/coverage", "/api/gaps", "/api/sites/suggest"):
        res = client.get(path, params=params)
        assert res.status_code == 422, (path, res.text)
        assert needle in res.json()["detail"]


def test_suggest_errors(client):
    assert client.get("/api/sites/suggest", params={"count": 500}).status_code == 422
    res = client.get("/api/sites/suggest", params={"candidates": "roofs"})
    assert res.status_code == 422 and "candidates" in res.json()["detail"]
    res = client.get("/api/sites/suggest", params={"count": 1, "target_share": 0.5})
    assert res.status_code == 422 and "either count or target_share" in res.json()["detail"]
