import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import LAT, LON, SUB_A, SUB_B, cell_code, metric_point
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.assign import ASSIGNMENT_COLUMNS, assign_points
from geo.lookup import OUTSIDE, build_grid_lookup


def one(city, lon, lat, **kw):
    return assign_points(city, [lon], [lat], **kw).iloc[0]


def test_interior_point(small_city):
    row = one(small_city, 114.0015, 30.5015)
    assert row["grid_code"] == cell_code(SUB_A, 1)
    assert row["subdistrict_code"] == SUB_A
    assert row["street_name"] == "中山路"
    # 0.0015 degree of latitude at 30.5 N is 166.3 m
    assert row["street_distance_m"] == pytest.approx(166.3, abs=0.2)
    assert row["nearest_station_id"] == "S1"  # S1 100 m east, S2 101 m north, S4 closed 50 m
    assert row["station_distance_m"] == pytest.approx(100.0, abs=1e-6)
    assert not row["outside_city"]


def test_shared_edge_goes_to_the_lowest_grid_code(small_city):
    # the edge lon 114.003 between cells 0101 (west) and 0102 (east)
    assert one(small_city, 114.003, 30.5015)["grid_code"] == cell_code(SUB_A, 1)
    # the edge lat 30.503 between 0102 (south) and 0104 (north)
    assert one(small_city, 114.0045, 30.503)["grid_code"] == cell_code(SUB_A, 2)


def test_vertex_shared_by_four_cells(small_city):
    assert one(small_city, LON[1], LAT[1])["grid_code"] == cell_code(SUB_A, 1)


def test_point_on_subdistrict_boundary(small_city):
    row = one(small_city, 114.006, 30.5045)
    assert row["grid_code"] == cell_code(SUB_A, 4)
    assert row["subdistrict_code"] == SUB_A
    row = one(small_city, 114.0075, 30.5045)
    assert (row["grid_code"], row["subdistrict_code"]) == (cell_code(SUB_B, 3), SUB_B)


def test_city_edge_is_inside_and_just_outside_is_kept(small_city):
    assert one(small_city, 114.000, 30.5015)["grid_code"] == cell_code(SUB_A, 1)
    row = one(small_city, 113.99999, 30.5015)  # about 1 m west of the city
    assert row["outside_city"]
    assert row["grid_code"] is None and row["subdistrict_code"] is None
    assert row["street_name"] == "中山路"  # still gets its nearest street and station
    assert row["nearest_station_id"] in {"S1", "S2"}


def test_bad_coordinates_are_kept_with_empty_assignment(small_city):
    out = assign_points(small_city, [np.nan, 200.0, 114.0015], [30.5, 30.5, 30.5015])
    assert len(out) == 3
    assert out["grid_code"].isna().tolist() == [True, True, False]
    assert out["outside_city"].isna().tolist() == [True, True, False]
    assert list(out.columns) == list(ASSIGNMENT_COLUMNS)


def test_gcj02_input_lands_where_the_wgs84_point_is(small_city):
    from geo import crs as gcrs

    lon, lat = metric_point(10.0, 10.0)
    glon, glat = gcrs.from_wgs84(lon, lat, crs="gcj02")
    a = one(small_city, glon, glat, crs="gcj02")
    b = one(small_city, lon, lat)
    assert a["grid_code"] == b["grid_code"]
    assert a["station_distance_m"] == pytest.approx(b["station_distance_m"], abs=0.01)


def test_chunks_do_not_change_answers(small_city):
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(113.999, 114.013, 5000), rng.uniform(30.499, 30.507, 5000)
    whole = assign_points(small_city, lon, lat)
    chunked = assign_points(small_city, lon, lat, chunk_size=333)
    pd.testing.assert_frame_equal(whole, chunked)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(113.9995, 114.0125), st.floats(30.4995, 30.5065)),
        min_size=1,
        max_size=50,
    )
)
def test_every_point_in_the_city_gets_one_covering_cell(small_city, points):
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    out = assign_points(small_city, lon, lat)
    grid = small_city.grid.set_index("grid_code").geometry
    pts = shapely.points(lon, lat)
    in_city = shapely.covers(small_city.subdistricts.union_all(), pts)
    assert (out["outside_city"].to_numpy(bool) == ~in_city).all()
    for code, pt, inside in zip(out["grid_code"], pts, in_city, strict=True):
        if inside:
            assert grid[code].covers(pt)
            covering = [c for c, g in grid.items() if g.covers(pt)]
            assert code == min(covering)


def test_raster_lookup_matches_strtree_on_irregular_cells():
    rng = np.random.default_rng(7)
    seeds = shapely.multipoints(rng.uniform(0, 1, (300, 2)))
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=shapely.box(0, 0, 1, 1)))
    cells = shapely.intersection(cells, shapely.box(0.05, 0.05, 0.95, 0.95))
    cells = cells[~shapely.is_empty(cells)]
    lookup = build_grid_lookup(cells, pixel_m=200.0)  # ~0.0018 deg pixels on a unit square
    assert lookup.unambiguous_share() > 0.3
    lon, lat = rng.uniform(-0.05, 1.05, 200_000), rng.uniform(-0.05, 1.05, 200_000)
    # points on vertices and edges too
    verts = shapely.get_coordinates(cells)
    lon = np.concatenate([lon, verts[:, 0], (verts[:-1, 0] + verts[1:, 0]) / 2])
    lat = np.concatenate([lat, verts[:, 1], (verts[:-1, 1] + verts[1:, 1]) / 2])
    fast = lookup.locate(lon, lat)
    exact = lookup.exact(lon, lat)
    np.testing.assert_array_equal(fast, exact)
    assert (fast == OUTSIDE).any() and (fast >= 0).any()
