"""The yizhan command line, run as a user would: in a subprocess, reading its output."""

import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pytest
from conftest import assert_assets_are_local, write_pack


def yizhan(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    return write_pack(tmp_path_factory.mktemp("cli") / "pack")


def assert_one_line_error(result, needle):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert needle in result.stderr


def test_validate_ok(pack):
    result = yizhan("validate", "--data", pack)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("valid: 测试城: 4 stations, 8 grid cells")


def test_validate_lists_problems_and_fails(tmp_path):
    from conftest import station_features

    stations = station_features()
    stations[0]["amenities"] = "rest;sauna"
    stations[1]["station_id"] = "S1"
    folder = write_pack(tmp_path / "bad", stations=stations)
    result = yizhan("validate", "--data", folder)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert "stations.geojson row 2: duplicate station_id 'S1' (first at row 1)" in lines
    assert lines[-1].startswith("2 problem(s) in")


def test_validate_missing_folder(tmp_path):
    assert_one_line_error(yizhan("validate", "--data", tmp_path / "nope"), "does not exist")


def test_assign_csv_keeps_bad_rows_with_a_problem(pack, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(
        "id,lon,lat,note\n1,114.0015,30.5015,好\n2,abc,30.5,x\n3,,,y\n4,114.0,95.0,z\n"
        "5,113.99,30.5,outside\n",
        encoding="utf-8",
    )
    dst = tmp_path / "out.csv"
    result = yizhan("assign", src, "-o", dst, "--data", pack)
    assert result.returncode == 0, result.stderr
    assert "assigned 5 rows: 1 in the city, 1 outside, 3 with problems" in result.stderr
    out = pd.read_csv(dst, dtype=str, keep_default_na=False)
    assert out["id"].tolist() == ["1", "2", "3", "4", "5"]
    assert out["note"][0] == "好"
    assert out["grid_code"].tolist()[:4] == ["42010000100101", "", "", ""]
    assert out["problem"].tolist()[1:4] == [
        "lon/lat 'abc', '30.5' not numeric",
        "missing lon/lat",
        "lon/lat 114.0, 95.0 out of range",
    ]
    assert out["outside_city"][4] == "True"


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".parquet"])
def test_assign_gcj02_to_vector_formats(pack, tmp_path, suffix):
    from geo import crs as gcrs

    glon, glat = gcrs.from_wgs84(114.0015, 30.5015, crs="gcj02")
    src = tmp_path / "in.csv"
    src.write_text(f"lon,lat\n{glon:.9f},{glat:.9f}\n")
    dst = tmp_path / f"out{suffix}"
    result = yizhan("assign", src, "--crs", "gcj02", "-o", dst, "--data", pack)
    assert result.returncode == 0, result.stderr
    out = gpd.read_parquet(dst) if suffix == ".parquet" else gpd.read_file(dst)
    assert out["grid_code"][0] == "42010000100101"
    assert out.geometry[0].x == pytest.approx(114.0015, abs=1e-8)  # stored back in WGS84


def test_assign_vector_input(pack, tmp_path):
    src = tmp_path / "pts.geojson"
    gpd.GeoDataFrame(
        {"k": ["a"]}, geometry=gpd.points_from_xy([114.0075], [30.5045]), crs=4326
    ).to_file(src)
    dst = tmp_path / "out.csv"
    assert yizhan("assign", src, "-o", dst, "--data", pack).returncode == 0
    out = pd.read_csv(dst, dtype=str)
    assert out["grid_code"][0] == "42010000200103" and out["k"][0] == "a"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["assign", "missing.csv", "-o", "x.csv"], "input 'missing.csv' does not exist"),
        (["assign", "{src}", "-o", "x.txt"], "unsupported suffix '.txt'"),
        (["assign", "{src}", "-o", "x.csv", "--crs", "mars"], "got 'mars'"),
        (["assign", "{nolonlat}", "-o", "x.csv"], "missing column(s) lon, lat"),
        (["nearest", "--lon", "114", "--lat", "95"], "not valid coordinates"),
        (["nearest", "--lon", "114", "--lat", "30.5", "--amenity", "sauna"], "amenity 'sauna'"),
        (["nearest", "--lon", "114", "--lat", "30.5", "--open-at", "tonight"], "open_at"),
    ],
)
def test_errors_are_one_clear_line(pack, tmp_path, args, needle):
    src = tmp_path / "in.csv"
    src.write_text("lon,lat\n114.0015,30.5015\n")
    nolonlat = tmp_path / "nolonlat.csv"
    nolonlat.write_text("x,y\n1,2\n")
    args = [a.format(src=src, nolonlat=nolonlat) for a in args]
    result = yizhan(*args, "--data", pack)
    assert_one_line_error(result, needle)
    assert len(result.stderr.strip().splitlines()) == 1


def test_nearest_table(pack):
    result = yizhan(
        "nearest",
        "--lon",
        "114.0015",
        "--lat",
        "30.5015",
        "-k",
        "2",
        "--open-at",
        "2026-06-01T10:00",
        "--data",
        pack,
    )
    assert result.returncode == 0, result.stderr
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in result.stdout.splitlines()
        if line.startswith("│") and line.split("│")[1].strip()  # a row's first line
    ]
    # rank, id, name, metres, open now (Monday 10:00), amenities' first line
    assert [r[:5] for r in rows] == [
        ["1", "S1", "一号驿站", "100", "营业中"],
        ["2", "S2", "二号驿站", "101", "营业中"],
    ]


def test_bad_setting_is_named(pack):
    import os

    env = {**os.environ, "YIZHAN_LOOKUP_PIXEL_M": "-3"}
    result = yizhan("nearest", "--lon", "114", "--lat", "30.5", "--data", pack, env=env)
    assert_one_line_error(result, "YIZHAN_LOOKUP_PIXEL_M='-3': Input should be greater than 0")


def test_progress_bar_on_large_inputs(pack, tmp_path):
    import os

    src = tmp_path / "in.csv"
    src.write_text("lon,lat\n" + "114.0015,30.5015\n" * 50)
    env = {**os.environ, "YIZHAN_PROGRESS_MIN_ROWS": "10"}
    result = yizhan("assign", src, "-o", tmp_path / "o.csv", "--data", pack, env=env)
    assert result.returncode == 0, result.stderr
    assert "assigning" in result.stderr and "50/50" in result.stderr
    quiet = yizhan("assign", src, "-o", tmp_path / "o.csv", "--data", pack)
    assert "assigning" not in quiet.stderr


@pytest.fixture(scope="module")
def pack_with_tips(tmp_path_factory):
    from shapely.geometry import Point

    tips = [
        {
            "tip_id": f"T{i}",
            "reported_at": "2026-03-10T09:00:00+08:00",
            "category": "11",
            "description": "",
            "reporter_id": "r",
            "status": "open",
            "geometry": Point(lon, lat),
        }
        for i, (lon, lat) in enumerate(
            [(114.001, 30.5012), (114.0111, 30.5011), (114.0112, 30.5012), (114.0113, 30.5013)]
        )
    ]
    return write_pack(tmp_path_factory.mktemp("cli-plan") / "pack", tips=tips)


def test_coverage_tables_and_cells(pack_with_tips, tmp_path):
    result = yizhan(
        "coverage", "--radius-m", "300", "-o", tmp_path / "c.xlsx", "--data", pack_with_tips
    )
    assert result.returncode == 0, result.stderr
    assert "全市" in result.stdout and "25.0%" in result.stdout  # 1 of 4 tips covered
    sheets = pd.read_excel(tmp_path / "c.xlsx", sheet_name=None, dtype={"subdistrict_code": str})
    assert list(sheets) == ["全市", "街道"]
    assert sheets["全市"]["demand_covered"][0] == 1
    assert sheets["街道"]["subdistrict_code"].tolist() == ["420100001", "420100002"]
    result = yizhan(
        "coverage", "--radius-m", "300", "-o", tmp_path / "cells.geojson", "--data", pack_with_tips
    )
    cells = gpd.read_file(tmp_path / "cells.geojson")
    assert len(cells) == 8 and cells["covered"].sum() == 5  # all but 0104 west, 0101-0102 east


def test_gaps_and_suggest(pack_with_tips, tmp_path):
    result = yizhan("gaps", "--radius-m", "300", "--top", "3", "--data", pack_with_tips)
    assert result.returncode == 0 and "42010000200102" in result.stdout
    result = yizhan(
        "suggest",
        "--count",
        "1",
        "--radius-m",
        "300",
        "--min-spacing-m",
        "50",
        "-o",
        tmp_path / "s.csv",
        "--data",
        pack_with_tips,
    )
    assert result.returncode == 0, result.stderr
    assert "最优解" in result.stdout and "100.0%" in result.stdout
    sites = pd.read_csv(tmp_path / "s.csv")
    assert sites["added_demand"].tolist() == [3]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["coverage", "--metric", "flying"], "'--metric': Value error, 'flying' is not one of"),
        (["gaps", "--demand", "cars"], "demand: 'cars'"),
        (["suggest", "--count", "1", "--target-share", "0.5"], "either count or target_share"),
        (["coverage", "-o", "x.shp"], "unsupported suffix '.shp'"),
        (["coverage", "--since", "yesterday"], "--since"),
    ],
)
def test_planning_errors_are_one_line(pack_with_tips, args, needle):
    result = yizhan(*args, "--data", pack_with_tips)
    assert_one_line_error(result, needle)


@pytest.mark.parametrize("kind", ["heatmap", "coverage", "gaps", "stations"])
def test_map_pages(pack_with_tips, tmp_path, kind):
    page = tmp_path / f"{kind}.html"
    result = yizhan("map", kind, "-o", page, "--radius-m", "300", "--data", pack_with_tips)
    assert result.returncode == 0, result.stderr
    html = page.read_text(encoding="utf-8")
    assert "<html" in html
    assert "/static/vendor/leaflet/leaflet.js" in assert_assets_are_local(html)


def test_map_errors(pack_with_tips, tmp_path):
    assert_one_line_error(yizhan("map", "bogus", "-o", tmp_path / "x.html"), "map kind")
    assert_one_line_error(yizhan("map", "coverage", "-o", tmp_path / "x.png"), ".html")


def test_db_status_and_upgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'tips.db'}"
    empty = yizhan("db", "status", "--db", url)
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.strip().endswith(
        "revision none (empty), head 0005: needs an upgrade (yizhan db upgrade)"
    )
    done = yizhan("db", "upgrade", "--db", url)
    assert done.returncode == 0 and done.stderr.strip().endswith(
        "applied 0001, 0002, 0003, 0004, 0005"
    )
    again = yizhan("db", "upgrade", "--db", url)
    assert again.stderr.strip().endswith("already at the newest revision")
    assert (
        yizhan("db", "status", "--db", url)
        .stdout.strip()
        .endswith("revision 0005, head 0005: up to date")
    )
    assert_one_line_error(yizhan("db", "status", "--db", "mysql://x"), "is not supported")
