"""Bulk import of cases (12345 hotline, grid workers) through the API and the command line, on
SQLite and on PostGIS: idempotent, all or nothing with one message per bad row, CSV and GeoJSON,
positions in GCJ-02, and only for dispatchers (within their subdistricts) and admins."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import METRIC, SUB_A, SUB_B, cell_code, write_pack
from fastapi.testclient import TestClient

from api.app import create_app
from api.services.imports import case_tip_id
from api.services.staff import add_staff
from api.settings import Settings
from geo import crs as gcrs

IN_A = (114.0015, 30.5015)  # cell 0101 of SUB_A, 150 m from 中山路
IN_B = (114.0105, 30.5045)  # cell 0104 of SUB_B
CSV = (
    "external_id,reported_at,category,description,lon,lat\n"
    f"H-1,2026-11-30T09:00:00+08:00,11,井盖缺失,{IN_A[0]},{IN_A[1]}\n"
    f"H-2,2026-11-30 10:00,05,占道经营,{IN_B[0]},{IN_B[1]}\n"
)


@pytest.fixture
def importer(store_url, small_city):
    """A client and tokens: an admin, dispatchers of the whole city and of SUB_A, a unit."""
    with TestClient(create_app(Settings(db=store_url), city=small_city)) as client:
        store = client.app.state.store
        tokens = {}
        for key, role, subs, unit in [
            ("admin", "admin", (), None),
            ("dispatcher", "dispatcher", (), None),
            ("dispatcher_a", "dispatcher", (SUB_A,), None),
            ("unit", "unit", (), "U00"),
            ("inspector", "inspector", (), None),
        ]:
            _, tokens[key] = add_staff(
                small_city, store, key, role=role, subdistricts=subs, unit_id=unit
            )
        yield client, tokens


def post(client, token, body, *, media="text/csv", expect=200, **params):
    data = body if isinstance(body, bytes) else body.encode("utf-8")
    headers = {"Content-Type": media}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    r = client.post("/api/cases/import", content=data, headers=headers, params=params)
    assert r.status_code == expect, r.text
    return r.json()


def cases(client, token, **params) -> dict:
    r = client.get("/api/cases", params=params, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return {c["external_id"]: c for c in r.json()["cases"]}


def feature(external_id, lon, lat, **props):
    return {
        "type": "Feature",
        "properties": {"external_id": external_id, **props},
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
    }


def test_a_csv_imported_twice_adds_its_cases_once(importer):
    client, tok = importer
    answer = post(client, tok["dispatcher"], CSV, source="hotline_12345")
    assert answer == {"rows": 2, "added": 2, "existing": 0}
    assert post(client, tok["admin"], CSV, source="hotline_12345") == {
        "rows": 2,
        "added": 0,
        "existing": 2,
    }
    got = cases(client, tok["admin"], source="hotline_12345")
    assert set(got) == {"H-1", "H-2"}
    one, two = got["H-1"], got["H-2"]
    assert one["tip_id"] == case_tip_id("hotline_12345", "H-1")
    assert one["tip_id"].startswith("I-hotline_12345-")
    assert (one["state"], one["step"], one["source"], one["urgency"]) == (
        "reported",
        "register",
        "hotline_12345",
        "normal",
    )
    # the register deadline counts from reported_at: 30 working minutes (a Monday morning)
    assert one["reported_at"] == "2026-11-30T09:00:00+08:00"
    assert one["due_at"] == "2026-11-30T09:30:00+08:00"
    assert one["overdue"] is True  # long past
    # a time without an offset is city time
    assert two["reported_at"] == "2026-11-30T10:00:00+08:00"
    assert (one["grid_code"], one["subdistrict_code"], one["street_name"]) == (
        cell_code(SUB_A, 1),
        SUB_A,
        "中山路",
    )
    assert two["grid_code"] == cell_code(SUB_B, 4) and two["category"] == "05"
    tip = client.get(f"/api/tips/{one['tip_id']}").json()["properties"]
    assert (tip["description"], tip["state"]) == ("井盖缺失", "reported")
    assert client.app.state.store.count_tips() == 2
    # the same ids from another source are other cases
    assert post(client, tok["admin"], CSV, source="grid_worker")["added"] == 2
    assert client.app.state.store.count_tips() == 4


def test_a_source_column_and_rows_already_there_in_a_longer_file(importer):
    client, tok = importer
    post(client, tok["admin"], CSV, source="hotline_12345")
    longer = (
        "external_id,source,reported_at,category,lon,lat\n"
        f"H-1,,2026-11-30T09:00:00+08:00,11,{IN_A[0]},{IN_A[1]}\n"  # the --source one: there
        f"G-7,grid_worker,2026-12-01T08:30:00+08:00,13,{IN_A[0]},{IN_A[1]}\n"
    )
    answer = post(client, tok["admin"], longer, source="hotline_12345")
    assert answer == {"rows": 2, "added": 1, "existing": 1}
    assert cases(client, tok["admin"], source="grid_worker")["G-7"]["category"] == "13"
    # without a source column a file needs one source for all
    detail = post(client, tok["admin"], CSV, expect=422)["detail"]
    assert detail == "body: missing column(s) source (or give one source for the file)"
    detail = post(client, tok["admin"], CSV, source="Hotline 12345", expect=422)["detail"]
    assert detail.startswith("source: 'Hotline 12345' is not a code")


def test_a_file_with_bad_rows_is_refused_whole_one_message_per_row(importer):
    client, tok = importer
    bad = (
        "external_id,source,reported_at,category,description,lon,lat\n"
        f"ok-1,hotline_12345,2026-11-30T09:00:00+08:00,11,,{IN_A[0]},{IN_A[1]}\n"
        f",hotline_12345,2026-11-30T09:00:00+08:00,99,,{IN_A[0]},{IN_A[1]}\n"
        "ok-2,hotline_12345,yesterday,11,,abc,30.5\n"
        f"ok-1,hotline_12345,2026-11-30T09:00:00+08:00,11,,{IN_A[0]},{IN_A[1]}\n"
        f"x-3,Bad Source,,11,,{IN_A[0]},{IN_A[1]}\n"
        "x-4,grid_worker,2026-11-30T09:00:00+08:00,11,,114.2,30.5\n"
        f"x-5,grid_worker,2026-11-30T09:00:00.1234567+08:00,11,{'长' * 501},{IN_A[0]},95\n"
    )
    body = post(client, tok["admin"], bad, expect=422)
    assert body["problems"] == [
        "body row 2: external_id: missing; category: '99' is not one of 01, 02, 03, 04, 05, "
        "06, 11, 12, 13",
        "body row 3: reported_at: 'yesterday' is not an ISO 8601 date-time; "
        "lon/lat: 'abc', '30.5' not numeric",
        "body row 4: external_id: 'ok-1' of hotline_12345 repeats row 1",
        "body row 5: source: 'Bad Source' is not a code like hotline_12345 (a-z, 0-9, _); "
        "reported_at: missing",
        "body row 6: lon/lat: 18.1 km from the city (YIZHAN_TIP_MAX_OUTSIDE_M=5000)",
        "body row 7: reported_at: '2026-11-30T09:00:00.1234567+08:00' is finer than a "
        "microsecond; description: 501 characters is longer than 500 "
        "(YIZHAN_DESCRIPTION_MAX_CHARS); lon/lat: 114.0015, 95 out of range",
    ]
    assert body["detail"].startswith("6 problems, the first: body row 2: external_id: missing")
    assert client.app.state.store.count_tips() == 0  # nothing of it, the good rows neither
    # a file that is no CSV of cases at all
    assert post(client, tok["admin"], "a,b\n1,2\n", expect=422)["detail"].startswith(
        "body: missing column(s) lon, lat"
    )
    detail = post(client, tok["admin"], b"\xff\xfe\x00", expect=422)["detail"]
    assert detail.startswith("body: cannot be read as CSV")


def test_geojson_and_csv_positions_in_gcj02_are_stored_in_wgs84(importer):
    client, tok = importer
    glon, glat = (float(v) for v in gcrs.from_wgs84(*IN_A, crs="gcj02"))
    collection = {
        "type": "FeatureCollection",
        "features": [
            feature("J-1", glon, glat, reported_at="2026-12-01T14:00:00+08:00", category=11),
            feature(
                "J-2",
                glon,
                glat,
                reported_at="2026-12-01T15:00:00+08:00",
                category="12",
                source="grid_worker",
                description=None,
            ),
        ],
    }
    body = json.dumps(collection, ensure_ascii=False)
    answer = post(
        client,
        tok["admin"],
        body,
        media="application/geo+json",
        source="hotline_12345",
        crs="gcj02",
    )
    assert answer == {"rows": 2, "added": 2, "existing": 0}
    one = cases(client, tok["admin"], source="hotline_12345")["J-1"]
    two = cases(client, tok["admin"], source="grid_worker")["J-2"]
    for case in (one, two):
        assert abs(case["lon"] - IN_A[0]) < 1e-7 and abs(case["lat"] - IN_A[1]) < 1e-7
        assert case["grid_code"] == cell_code(SUB_A, 1)
    assert one["category"] == "11"  # a number in GeoJSON is read as the code
    # the same numbers taken as WGS84 are ~500 m off
    again = post(client, tok["admin"], body, media="application/json", source="bd_test")
    assert again == {"rows": 2, "added": 1, "existing": 1}  # J-2 names its own source
    shifted = cases(client, tok["admin"], source="bd_test")["J-1"]
    assert abs(shifted["lon"] - glon) < 1e-9

    csv = f"external_id,reported_at,category,lon,lat\nC-1,2026-12-01T16:00:00,04,{glon},{glat}\n"
    post(client, tok["admin"], csv, source="hotline_12345", crs="gcj02")
    three = cases(client, tok["admin"], source="hotline_12345")["C-1"]
    assert abs(three["lon"] - IN_A[0]) < 1e-7 and abs(three["lat"] - IN_A[1]) < 1e-7

    # not a FeatureCollection, a feature that is no point
    assert (
        "FeatureCollection"
        in post(client, tok["admin"], '{"type": "Feature"}', media="application/json", expect=422)[
            "detail"
        ]
    )
    lines = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"external_id": "L", "reported_at": "2026-12-01", "category": "11"},
                "geometry": {"type": "LineString", "coordinates": [[114, 30.5], [114.1, 30.5]]},
            }
        ],
    }
    problems = post(
        client,
        tok["admin"],
        json.dumps(lines),
        media="application/json",
        source="x",
        expect=422,
    )
    assert problems["detail"] == "body row 1: geometry: not a point"


def test_a_geojson_crs_member_is_honoured_and_an_empty_file_adds_nothing(importer):
    client, tok = importer
    x, y = (float(v) for v in gcrs.project(*IN_A, METRIC))
    projected = {
        "type": "FeatureCollection",
        "crs": {
            "type": "name",
            "properties": {"name": f"urn:ogc:def:crs:{METRIC.replace(':', '::')}"},
        },
        "features": [feature("P-1", x, y, reported_at="2026-12-01T09:00", category="11")],
    }
    post(client, tok["admin"], json.dumps(projected), media="application/json", source="gis")
    case = cases(client, tok["admin"], source="gis")["P-1"]
    assert abs(case["lon"] - IN_A[0]) < 1e-7 and abs(case["lat"] - IN_A[1]) < 1e-7
    detail = post(
        client,
        tok["admin"],
        json.dumps(projected),
        media="application/json",
        source="gis",
        crs="gcj02",
        expect=422,
    )["detail"]
    assert detail == f"body: declares the CRS {METRIC}, but the crs given is 'gcj02'"
    # a file that says WGS84 may hold GCJ-02 numbers
    glon, glat = (float(v) for v in gcrs.from_wgs84(*IN_A, crs="gcj02"))
    says_wgs84 = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": [feature("Q-1", glon, glat, reported_at="2026-12-01T09:00", category="11")],
    }
    body = json.dumps(says_wgs84)
    post(client, tok["admin"], body, media="application/json", source="gis", crs="gcj02")
    case = cases(client, tok["admin"], source="gis")["Q-1"]
    assert abs(case["lon"] - IN_A[0]) < 1e-7 and abs(case["lat"] - IN_A[1]) < 1e-7
    empty = '{"type": "FeatureCollection", "features": []}'
    answer = post(client, tok["admin"], empty, media="application/geo+json", source="gis")
    assert answer == {"rows": 0, "added": 0, "existing": 0}


def test_only_dispatchers_and_admins_import_and_a_scoped_one_only_into_its_area(importer):
    client, tok = importer
    post(client, None, CSV, source="hotline_12345", expect=401)
    for key in ("unit", "inspector"):
        detail = post(client, tok[key], CSV, source="hotline_12345", expect=403)["detail"]
        assert detail.startswith(f"role: {key} may not do this")
    body = post(client, tok["dispatcher_a"], CSV, source="hotline_12345", expect=422)
    assert body["detail"] == (
        f"body row 2: subdistrict: {SUB_B} is outside this account's subdistricts"
    )
    only_a = CSV.rsplit("\n", 2)[0] + "\n"
    assert post(client, tok["dispatcher_a"], only_a, source="hotline_12345")["added"] == 1
    detail = post(client, tok["admin"], CSV, media="text/plain", expect=415)["detail"]
    assert detail.startswith("Content-Type: 'text/plain' is not one of")


def test_the_body_limit_holds_for_imports(store_url, small_city):
    with TestClient(create_app(Settings(db=store_url, max_body_bytes=1024), city=small_city)) as c:
        _, token = add_staff(small_city, c.app.state.store, "admin", role="admin")
        rows = "".join(f"E-{i},2026-12-01,11,,{IN_A[0]},{IN_A[1]}\n" for i in range(40))
        big = "external_id,reported_at,category,description,lon,lat\n" + rows
        assert len(big) > 1024
        r = c.post(
            "/api/cases/import",
            content=big.encode(),
            params={"source": "hotline_12345"},
            headers={"Content-Type": "text/csv", "Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 413
        assert c.app.state.store.count_tips() == 0


# -- the command line --------------------------------------------------------------------------


def yizhan(*args, **env):
    import os

    environ = {k: v for k, v in os.environ.items() if not k.startswith("YIZHAN_")} | env
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )


def test_yizhan_import_cases(store_url, tmp_path):
    pack = write_pack(tmp_path / "pack")
    src = tmp_path / "hotline.csv"
    src.write_text(CSV, encoding="utf-8")
    args = ("import", "cases", src, "--source", "hotline_12345", "--db", store_url, "--data", pack)
    done = yizhan(*args, YIZHAN_PROGRESS_MIN_ROWS="1")  # with the progress bar
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "imported hotline.csv: 2 rows, 2 added, 0 already there"
    )
    done = yizhan(*args)
    assert done.stderr.strip() == "imported hotline.csv: 2 rows, 0 added, 2 already there"

    glon, glat = (float(v) for v in gcrs.from_wgs84(*IN_A, crs="gcj02"))
    geojson = tmp_path / "grid.geojson"
    collection = {
        "type": "FeatureCollection",
        "features": [
            feature("W-1", glon, glat, reported_at="2026-12-01T14:00", category="13"),
            feature("W-2", glon, glat, reported_at="2026-12-01T14:05", category="99"),
        ],
    }
    geojson.write_text(json.dumps(collection), encoding="utf-8")
    gargs = ("import", "cases", geojson, "--source", "grid_worker", "--crs", "gcj02")
    done = yizhan(*gargs, "--db", store_url, "--data", pack)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "grid.geojson row 2: category: '99' is not one of 01, 02, 03, 04, 05, 06, 11, 12, 13",
        "1 problem(s) in grid.geojson: nothing imported",
    ]
    collection["features"].pop()
    geojson.write_text(json.dumps(collection), encoding="utf-8")
    done = yizhan(*gargs, "--db", store_url, "--data", pack)
    assert done.returncode == 0, done.stderr

    from api.stores import open_store

    store = open_store(store_url)
    try:
        tip = store.get_tip(case_tip_id("grid_worker", "W-1"))
        assert abs(tip["lon"] - IN_A[0]) < 1e-7 and abs(tip["lat"] - IN_A[1]) < 1e-7
        assert store.get_case(tip["tip_id"])["external_id"] == "W-1"
        assert store.count_tips() == 3
    finally:
        store.close()
    wrong = yizhan("import", "cases", tmp_path / "cases.txt", "--db", store_url, "--data", pack)
    assert wrong.returncode == 1 and "unsupported suffix '.txt'" in wrong.stderr
