import csv

import geopandas as gpd
import pytest
from conftest import (
    SUB_A,
    cell_code,
    grid_features,
    station_features,
    subdistrict_features,
    write_pack,
)
from shapely.geometry import Point, Polygon, box

from geo import crs as gcrs
from geo.errors import InvalidLayer
from geo.pack import read_pack


def problems_of(folder):
    with pytest.raises(InvalidLayer) as info:
        read_pack(folder)
    return info.value.problems


def test_valid_pack_reads_sorted_and_typed(pack_dir):
    pack = read_pack(pack_dir)
    assert pack.metric_crs == "EPSG:4547"
    assert list(pack.grid["grid_code"]) == sorted(pack.grid["grid_code"])
    assert pack.stations["amenities"][1] == ["rest", "water", "ebike_charging"]
    assert str(pack.stations["last_confirmed"][0]) == "2026-05-01"
    assert "4 stations, 8 grid cells, 2 subdistricts, 2 streets, 0 tips" in pack.summary()


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(InvalidLayer, match="does not exist"):
        read_pack(tmp_path / "nope")


def test_missing_layer_is_named(tmp_path):
    folder = write_pack(tmp_path / "p", streets=None)
    assert any(p.startswith("streets: no streets.geojson") for p in problems_of(folder))


def test_missing_crs(tmp_path):
    folder = write_pack(tmp_path / "p", grid=None)
    frame = gpd.GeoDataFrame(grid_features(), geometry="geometry", crs=None)
    with pytest.warns(UserWarning):
        frame.to_file(folder / "grid.shp", engine="pyogrio")
    (folder / "grid.prj").unlink(missing_ok=True)
    assert problems_of(folder) == ["grid.shp: no CRS declared (add a .prj, or save with a CRS)"]


def test_self_intersecting_polygon(tmp_path):
    grid = grid_features()
    grid[0]["geometry"] = Polygon(
        [(114.000, 30.500), (114.003, 30.503), (114.003, 30.500), (114.000, 30.503)]
    )
    problems = problems_of(write_pack(tmp_path / "p", grid=grid))
    assert len(problems) == 1
    assert problems[0].startswith(f"grid.geojson row 1 (grid_code {cell_code(SUB_A, 1)}): ")
    assert "Self-intersection" in problems[0]


def test_overlapping_cells(tmp_path):
    grid = grid_features()
    grid[0]["geometry"] = box(114.000, 30.500, 114.0035, 30.503)  # 0.0005 deg into its neighbour
    problems = problems_of(write_pack(tmp_path / "p", grid=grid))
    assert len(problems) == 1
    assert (
        "row 1 (grid_code 42010000100101) overlaps row 3 (grid_code 42010000100102)"
        in (problems[0])
    )


def test_cell_straddling_subdistricts(tmp_path):
    grid = grid_features()
    # cell 3 (col 1, row 0) of subdistrict A pushed 0.001 deg east into B; B's cell shrunk
    grid[2]["geometry"] = box(114.003, 30.500, 114.007, 30.503)
    grid[4]["geometry"] = box(114.007, 30.500, 114.009, 30.503)
    problems = problems_of(write_pack(tmp_path / "p", grid=grid))
    assert len(problems) == 1
    assert "(grid_code 42010000100102): 25.0%" in problems[0]
    assert "outside its subdistrict 420100001 (straddles 420100002)" in problems[0]


def test_grid_code_must_start_with_subdistrict(tmp_path):
    grid = grid_features()
    grid[0]["grid_code"] = "42019999900101"
    problems = problems_of(write_pack(tmp_path / "p", grid=grid))
    assert problems == [
        "grid.geojson row 1 (grid_code 42019999900101): code does not start with its "
        "subdistrict_code 420100001"
    ]


def test_grid_code_shape_and_unknown_subdistrict(tmp_path):
    grid = grid_features()
    grid[0]["grid_code"] = "4201"
    grid[1]["subdistrict_code"] = "420100009"
    problems = problems_of(write_pack(tmp_path / "p", grid=grid))
    assert "grid.geojson row 1: grid_code '4201' is not 14 or 15 digits" in problems
    assert any(
        "subdistrict_code '420100009' is not in the subdistricts layer" in p for p in problems
    )


def test_duplicate_ids(tmp_path):
    stations = station_features()
    stations[2]["station_id"] = "S1"
    subs = subdistrict_features()
    problems = problems_of(write_pack(tmp_path / "p", stations=stations, subdistricts=subs))
    assert problems == ["stations.geojson row 3: duplicate station_id 'S1' (first at row 1)"]


def test_station_outside_city_unknown_amenity_bad_hours(tmp_path):
    stations = station_features()
    stations[0]["geometry"] = Point(113.99, 30.50)
    stations[1]["amenities"] = "water;sauna"
    stations[2]["opening_hours"] = "whenever we like"
    stations[3]["status"] = "gone"
    problems = problems_of(write_pack(tmp_path / "p", stations=stations))
    assert any(
        p.startswith(
            "stations.geojson row 1 (station_id S1): point (113.990000, 30.500000)"
            " is outside the city"
        )
        for p in problems
    )
    assert any("row 2 (station_id S2): unknown amenity code(s) 'sauna'" in p for p in problems)
    assert any(
        "row 3 (station_id S3): opening_hours 'whenever we like' does not parse" in p
        for p in problems
    )
    assert any(
        "row 4 (station_id S4): status 'gone' is not one of open, closed, suspended" in p
        for p in problems
    )
    assert len(problems) == 4


def test_numeric_amenities_are_unknown_codes(tmp_path):
    # a column of numbers (as a GeoPackage or Shapefile can hold) is read as int64, not text
    stations = station_features()
    for n, station in enumerate(stations):
        station["amenities"] = n + 1
    problems = problems_of(write_pack(tmp_path / "p", stations=stations))
    assert [p.split(": ", 1)[1].split(";")[0] for p in problems] == [
        f"unknown amenity code(s) '{n}'" for n in (1, 2, 3, 4)
    ]


def write_station_csv(folder, crs_name):
    rows = []
    for feat in station_features():
        lon, lat = gcrs.from_wgs84(feat["geometry"].x, feat["geometry"].y, crs=crs_name)
        row = {k: v for k, v in feat.items() if k != "geometry"}
        rows.append({**row, "lon": f"{lon:.9f}", "lat": f"{lat:.9f}"})
    with (folder / "stations.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_csv_points_need_a_stated_crs(tmp_path):
    folder = write_pack(tmp_path / "p", stations=None)
    write_station_csv(folder, "gcj02")
    problems = problems_of(folder)
    assert problems[0].startswith("stations.csv: CSV points need a stated CRS")


def test_csv_points_in_gcj02_are_converted(tmp_path):
    folder = write_pack(tmp_path / "p", stations=None)
    write_station_csv(folder, "gcj02")
    (folder / "pack.toml").write_text('name = "x"\n[csv_crs]\nstations = "gcj02"\n')
    pack = read_pack(folder)
    expected = station_features()[2]["geometry"]
    got = pack.stations.geometry[2]
    assert got.x == pytest.approx(expected.x, abs=1e-8)
    assert got.y == pytest.approx(expected.y, abs=1e-8)


def test_several_files_for_one_layer(tmp_path):
    folder = write_pack(tmp_path / "p")
    (folder / "stations.csv").write_text("lon,lat\n")
    assert problems_of(folder) == [
        "stations: several files (stations.geojson, stations.csv); keep exactly one"
    ]


def test_other_formats_read_the_same(tmp_path, pack_dir):
    base = read_pack(pack_dir)
    folder = write_pack(tmp_path / "p", grid=None, streets=None)
    gpd.read_file(pack_dir / "grid.geojson").to_parquet(folder / "grid.parquet")
    gpd.read_file(pack_dir / "streets.geojson").to_crs(4547).to_file(
        folder / "streets.gpkg", engine="pyogrio"
    )
    pack = read_pack(folder)
    assert list(pack.grid["grid_code"]) == list(base.grid["grid_code"])
    assert pack.streets.crs.to_epsg() == 4326
    assert pack.streets.geometry[0].coords[0] == pytest.approx((114.0, 30.503), abs=1e-9)


def test_identical_cells_are_reported_once(tmp_path):
    grid = grid_features()
    grid[1]["geometry"] = grid[0]["geometry"]
    problems = problems_of(write_pack(tmp_path / "p", grid=grid))
    assert problems == [
        "grid.geojson row 1 (grid_code 42010000100101) contains row 2 (grid_code 42010000100103)"
    ]


def test_long_edges_against_dense_cells_are_not_slivers(tmp_path):
    """One 4-corner subdistrict around a 1.2 km row of cells: exact in WGS84, though in metres
    its straight long edge and the cells' short ones differ by up to ~2 cm."""
    subs = [
        {
            "subdistrict_code": "420100001",
            "name": "一字街道",
            "geometry": box(114.000, 30.500, 114.012, 30.503),
        }
    ]
    grid = [
        {
            "grid_code": f"420100001001{i:02d}",
            "subdistrict_code": "420100001",
            "geometry": box(
                round(114 + i * 0.002, 6), 30.500, round(114.002 + i * 0.002, 6), 30.503
            ),
        }
        for i in range(6)
    ]
    stations = [dict(station_features()[0], geometry=Point(114.001, 30.501))]
    pack = read_pack(write_pack(tmp_path / "p", subdistricts=subs, grid=grid, stations=stations))
    assert len(pack.grid) == 6
