"""Coverage, gaps and site suggestion on cities whose answers can be worked out on paper."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import write_pack
from shapely.geometry import LineString, Point, box

from geo import crs as gcrs
from geo.city import load_city
from geo.coverage import (
    DemandSpec,
    cell_demand,
    coverage,
    gaps,
    gaps_by_subdistrict,
)
from geo.errors import InvalidInput
from geo.sites import cover_matrix, solve_mclp, solve_min_sites, suggest_sites

SUB = "420100001"
W = 0.002  # cell width in degrees of longitude: 0.002 * 111320 * cos(30.5 deg) = 191.8 m
CELL_M = W * 111_320 * np.cos(np.radians(30.5))


def station(sid, lon, lat, status="open"):
    return {
        "station_id": sid,
        "name": sid,
        "address": "",
        "amenities": "rest",
        "opening_hours": "24/7",
        "status": status,
        "geometry": Point(lon, lat),
    }


def line_city(tmp_path):
    """Six cells in a row; stations at the centres of the first and the last."""
    grid = [
        {
            "grid_code": f"{SUB}00101{i}",
            "subdistrict_code": SUB,
            "households": 10 * (i + 1),
            "geometry": box(round(114 + i * W, 6), 30.5, round(114 + (i + 1) * W, 6), 30.502),
        }
        for i in range(6)
    ]
    subs = [
        {"subdistrict_code": SUB, "name": "一字街道", "geometry": box(114, 30.5, 114.012, 30.502)}
    ]
    streets = [
        {"street_name": "一字路", "geometry": LineString([(114, 30.501), (114.012, 30.501)])}
    ]
    stations = [
        station("A", 114 + W / 2, 30.501),
        station("B", 114 + 5.5 * W, 30.501),
        station("X", 114 + 2.5 * W, 30.501, status="closed"),
    ]
    pack = write_pack(
        tmp_path / "line", grid=grid, subdistricts=subs, streets=streets, stations=stations
    )
    return load_city(pack)


@pytest.fixture(scope="module")
def line(tmp_path_factory):
    return line_city(tmp_path_factory.mktemp("line"))


def counts_in(city, per_cell) -> pd.Series:
    """Tips per grid cell, as the store counts them: ``per_cell`` in grid order."""
    return pd.Series([float(n) for n in per_cell], index=city.grid["grid_code"].to_numpy())


def test_line_of_cells_distances_and_coverage(line):
    demand = cell_demand(line, counts_in(line, [1, 2, 4, 3, 0, 5]))
    cov = coverage(line, demand, radius_m=250)
    expected = np.array([0, 1, 2, 2, 1, 0]) * CELL_M  # the closed station X does not count
    assert cov.cells["distance_m"].to_numpy() == pytest.approx(expected, abs=0.5)
    assert cov.cells["covered"].tolist() == [True, True, False, False, True, True]
    assert cov.cells["nearest_station_id"].tolist() == ["A", "A", "A", "B", "B", "B"]
    summary = cov.summary()
    assert summary["cells_covered"] == 4
    assert summary["demand"] == 15 and summary["demand_covered"] == 8
    assert summary["demand_covered_share"] == pytest.approx(8 / 15)
    assert summary["people_covered"] == 10 + 20 + 50 + 60
    # gap score: demand x (1 + excess / radius)
    excess = 2 * CELL_M - 250
    assert cov.cells["gap_score"].tolist()[2:4] == pytest.approx(
        [4 * (1 + excess / 250), 3 * (1 + excess / 250)], abs=0.01
    )
    ranked = gaps(cov, top=5)
    assert ranked["grid_code"].tolist() == [f"{SUB}001012", f"{SUB}001013"]
    table = gaps_by_subdistrict(cov, line.subdistricts)
    assert table["uncovered_cells"].tolist() == [2] and table["name"].tolist() == ["一字街道"]


def test_demand_blend(line):
    counts = counts_in(line, [1, 2, 4, 3, 0, 5])
    assert cell_demand(line, counts).tolist() == [1, 2, 4, 3, 0, 5]
    blend = cell_demand(line, counts, spec=DemandSpec.parse("tips:0.5,households:0.5"))
    households = np.array([10, 20, 30, 40, 50, 60]) * 15 / 210  # rescaled to the tip total
    assert blend.to_numpy() == pytest.approx(0.5 * np.array([1, 2, 4, 3, 0, 5]) + 0.5 * households)
    only_households = cell_demand(line, counts, spec=DemandSpec.parse("households"))
    assert only_households.to_numpy() == pytest.approx(households)
    with pytest.raises(InvalidInput, match="demand: 'cars'"):
        DemandSpec.parse("cars")
    with pytest.raises(InvalidInput, match="no 'population' column"):
        cell_demand(line, counts, spec=DemandSpec.parse("population"))


def river_city(tmp_path):
    """Two banks; the station on the south road, the only bridge far east."""
    grid, subs = [], []
    for row, (lat0, lat1) in enumerate([(30.500, 30.503), (30.503, 30.506)]):
        for col in range(5):
            grid.append(
                {
                    "grid_code": f"{SUB}001{row}{col}",
                    "subdistrict_code": SUB,
                    "households": 5,
                    "geometry": box(
                        round(114 + col * W, 6), lat0, round(114 + (col + 1) * W, 6), lat1
                    ),
                }
            )
    subs = [
        {"subdistrict_code": SUB, "name": "两岸街道", "geometry": box(114, 30.5, 114.010, 30.506)}
    ]
    south = LineString([(114.000, 30.5015), (114.009, 30.5015), (114.010, 30.5015)])
    north = LineString([(114.000, 30.5045), (114.009, 30.5045), (114.010, 30.5045)])
    bridge = LineString([(114.009, 30.5015), (114.009, 30.5045)])
    streets = [
        {"street_name": "南岸路", "geometry": south},
        {"street_name": "北岸路", "geometry": north},
        {"street_name": "一桥", "geometry": bridge},
    ]
    stations = [station("S", 114.001, 30.5015)]
    pack = write_pack(
        tmp_path / "river", grid=grid, subdistricts=subs, streets=streets, stations=stations
    )
    return load_city(pack), south, north, bridge


def test_network_distance_goes_over_the_bridge(tmp_path):
    city, south, north, bridge = river_city(tmp_path)
    demand = cell_demand(city, None, spec=DemandSpec.parse("households")) + 1
    straight = coverage(city, demand, radius_m=1000, metric="euclidean")
    network = coverage(city, demand, radius_m=1000, metric="network")
    # the north cell right across from the station (row 1, col 0)
    i = city.grid["grid_code"].tolist().index(f"{SUB}00110")
    crs = city.metric_crs

    def m(geom):
        return shapely.transform(
            geom, lambda xy: np.column_stack(gcrs.project(xy[:, 0], xy[:, 1], crs))
        )

    cell = m(shapely.centroid(city.grid.geometry[i]))
    st = m(Point(114.001, 30.5015))
    n, s, b = m(north), m(south), m(bridge)
    bridge_n, bridge_s = m(Point(114.009, 30.5045)), m(Point(114.009, 30.5015))
    by_hand = (
        n.distance(cell)  # to the north road
        + abs(n.project(cell) - n.project(bridge_n))  # east along it to the bridge
        + b.length  # over the bridge
        + abs(s.project(bridge_s) - s.project(st))  # back west to the station
        + s.distance(st)
    )
    assert network.cells["distance_m"][i] == pytest.approx(by_hand, abs=0.01)
    assert straight.cells["distance_m"][i] == pytest.approx(cell.distance(st), abs=0.01)
    assert network.cells["distance_m"][i] > 4 * straight.cells["distance_m"][i]
    assert (network.cells["distance_m"] >= straight.cells["distance_m"] - 1e-6).all()


def test_mclp_matches_brute_force():
    rng = np.random.default_rng(11)
    dem = rng.uniform(0, 1000, (40, 2))
    cand = rng.uniform(0, 1000, (12, 2))
    weights = rng.integers(1, 20, 40).astype(float)
    d = np.hypot(*(dem[:, None, :] - cand[None, :, :]).transpose(2, 0, 1))
    di, ci = np.nonzero(d <= 250)
    cover = cover_matrix(ci, di, n_candidates=12, n_demand=40)
    for p in (1, 2, 3, 4):
        best = max(
            weights[(d[:, list(combo)] <= 250).any(axis=1)].sum()
            for combo in itertools.combinations(range(12), p)
        )
        solution = solve_mclp(weights, cover, count=p)
        assert solution.optimal and solution.objective == pytest.approx(best)
        assert len(solution.chosen) == p
        assert solve_mclp(weights, cover, count=p, method="greedy").objective <= best + 1e-9
    target = 0.6 * weights.sum()
    fewest = min(
        p
        for p in range(1, 13)
        for combo in itertools.combinations(range(12), p)
        if weights[(d[:, list(combo)] <= 250).any(axis=1)].sum() >= target
    )
    solution = solve_min_sites(weights, cover, target=target)
    assert len(solution.chosen) == fewest and solution.objective >= target


def test_suggest_on_the_line(line):
    demand = cell_demand(line, counts_in(line, [1, 2, 4, 3, 0, 5]))
    cov = coverage(line, demand, radius_m=250)
    s = suggest_sites(line, cov, count=1, min_spacing_m=100)
    # one site between the two uncovered cells (2 and 3) covers both: 7 more demand
    assert s.optimal and s.solver.startswith("HiGHS")
    assert s.sites["added_demand"].tolist() == [7]
    assert s.before["demand_covered"] == 8 and s.after["demand_covered"] == 15
    assert s.sites["grid_code"][0] in {f"{SUB}001012", f"{SUB}001013"}
    assert s.sites["street_name"][0] == "一字路"
    fewest = suggest_sites(line, cov, target_share=1.0, min_spacing_m=100)
    assert len(fewest.sites) == 1
    with pytest.raises(InvalidInput, match="either count or target_share"):
        suggest_sites(line, cov)


def test_no_open_station_leaves_every_cell_uncovered(line):
    demand = cell_demand(line, counts_in(line, [1, 0, 0, 0, 0, 2]))
    for metric in ("euclidean", "network"):
        cov = coverage(line, demand, radius_m=250, metric=metric, stations=[])
        assert not cov.cells["covered"].any()
        assert cov.cells["nearest_station_id"].isna().all()
        assert cov.summary()["demand_covered"] == 0 and cov.summary()["median_distance_m"] is None
        assert cov.cells["gap_score"].tolist()[0] > 1
