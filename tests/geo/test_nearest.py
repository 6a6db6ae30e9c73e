import datetime as dt
import math

import numpy as np
import pytest
from conftest import metric_point
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.errors import InvalidInput
from geo.hours import is_open
from geo.nearest import StationIndex
from geo.stations import nearest_stations

PROBE = (114.0015, 30.5015)


def ids(found):
    return [s.station["station_id"] for s in found]


def test_one_metre_further_comes_second(small_city):
    near = nearest_stations(small_city, *PROBE, k=2)
    assert ids(near) == ["S1", "S2"]
    assert [s.distance_m for s in near] == pytest.approx([100.0, 101.0], abs=1e-6)
    assert near[0].station["name"] == "一号驿站"
    assert near[0].station["amenities"] == ("rest", "water")


def test_closed_station_is_skipped_unless_any_status(small_city):
    assert "S4" not in ids(nearest_stations(small_city, *PROBE, k=4))
    anyone = nearest_stations(small_city, *PROBE, k=1, status=None)
    assert ids(anyone) == ["S4"] and anyone[0].distance_m == pytest.approx(50.0, abs=1e-6)


def test_amenity_filter(small_city):
    assert ids(nearest_stations(small_city, *PROBE, k=3, amenities=["ebike_charging"])) == ["S2"]
    assert ids(nearest_stations(small_city, *PROBE, k=3, amenities=["toilet"])) == ["S3"]
    assert ids(nearest_stations(small_city, *PROBE, k=3, amenities=["toilet", "water"])) == []


def test_unknown_amenity_is_refused_by_name(small_city):
    with pytest.raises(InvalidInput, match="amenity 'sauna'"):
        nearest_stations(small_city, *PROBE, amenities=["sauna"])


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-06-01T22:30", ["S2"]),  # Monday night: only the 24/7 station
        ("2026-06-01T10:00", ["S1", "S2", "S3"]),
        ("2026-06-01T13:00", ["S1", "S2"]),  # S3 closes 12:00-14:00
        ("2026-06-06T10:00", ["S1", "S2"]),  # Saturday: S3 off
    ],
)
def test_open_at(small_city, when, expected):
    at = dt.datetime.fromisoformat(when)
    found = nearest_stations(small_city, *PROBE, k=3, open_only=True, at=at)
    assert ids(found) == expected
    assert all(s.open_now for s in found)


def test_open_at_aware_time_is_converted_to_local(small_city):
    utc = dt.datetime(2026, 6, 1, 14, 30, tzinfo=dt.UTC)  # 22:30 in Shanghai
    assert ids(nearest_stations(small_city, *PROBE, k=3, open_only=True, at=utc)) == ["S2"]


def test_many_points_at_once(small_city):
    lon, lat = zip(PROBE, metric_point(100.0, 1.0), strict=True)
    x, y = small_city.to_metric(np.array(lon), np.array(lat))
    result = small_city.station_index.query(x, y, k=2)
    assert result.index.shape == (2, 2)
    assert result.distance_m[1, 0] == pytest.approx(1.0, abs=1e-6)


def test_bad_point_is_refused(small_city):
    with pytest.raises(InvalidInput, match="not valid coordinates"):
        nearest_stations(small_city, float("nan"), 30.5)


def test_one_point_and_batch_queries_agree(small_city):
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(113.99, 114.02, 300), rng.uniform(30.49, 30.51, 300)
    x, y = small_city.to_metric(lon, lat)
    index = small_city.station_index
    at = dt.datetime(2026, 6, 1, 13, 0)
    for kwargs in ({}, {"open_at": at}, {"amenities": ["water"]}, {"status": None}):
        batch = index.query(x, y, k=3, **kwargs)
        for i in range(len(x)):
            rows, dists = index.query_one(float(x[i]), float(y[i]), k=3, **kwargs)
            assert rows == [r for r in batch.index[i] if r >= 0]
            assert dists == pytest.approx(batch.distance_m[i][: len(rows)])


# -- the one-point search against brute force ------------------------------------------------

HOURS = ("24/7", "Mo-Fr 08:00-20:00", "Mo-Su 09:00-12:00,14:00-21:00", "Sa,Su 10:00-16:00")
CODES = ("water", "toilet", "ebike_charging")
AT = (dt.datetime(2026, 6, 1, 13, 0), dt.datetime(2026, 6, 6, 22, 30))


@st.composite
def station_sets(draw):
    """Stations spread out, clustered, on a line or stacked on one point, with a query point
    inside, at the edge or far outside their extent."""
    n = draw(st.integers(1, 120))
    layout = draw(st.sampled_from(["spread", "clusters", "line", "stacked"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if layout == "spread":
        xy = rng.uniform(0, draw(st.sampled_from([50.0, 3000.0, 40000.0])), (n, 2))
    elif layout == "clusters":
        centres = rng.uniform(0, 20000, (3, 2))
        xy = centres[rng.integers(0, 3, n)] + rng.normal(0, 30, (n, 2))
    elif layout == "line":
        xy = np.column_stack([rng.uniform(0, 10000, n), np.full(n, 5.0)])
    else:
        xy = np.tile([[1234.5, 678.9]], (n, 1))
    xy = np.round(xy + 500_000, 3)  # metric coordinates as a projected CRS gives them
    query = draw(
        st.sampled_from(["station", "inside", "far"])
    )  # on a station (ties), anywhere near, or well beyond the extent
    if query == "station":
        q = xy[rng.integers(0, n)]
    elif query == "inside":
        q = xy.min(axis=0) + rng.uniform(-0.1, 1.1, 2) * (np.ptp(xy, axis=0) + 1)
    else:
        q = xy.mean(axis=0) + rng.choice([-1, 1], 2) * rng.uniform(5e4, 5e5, 2)
    index = StationIndex(
        xy[:, 0],
        xy[:, 1],
        amenities=[[c for c in CODES if rng.random() < 0.6] for _ in range(n)],
        status=rng.choice(["open", "open", "open", "closed"], n).tolist(),
        opening_hours=rng.choice(HOURS, n).tolist(),
        amenity_codes=CODES,
    )
    return index, float(q[0]), float(q[1])


@settings(max_examples=1000, deadline=None)
@given(
    case=station_sets(),
    k=st.integers(1, 8),
    amenities=st.sampled_from([(), ("water",), ("toilet", "ebike_charging")]),
    status=st.sampled_from(["open", None]),
    at=st.sampled_from((None, *AT)),
)
def test_one_point_search_is_exact(case, k, amenities, status, at):
    index, qx, qy = case
    rows, dists = index.query_one(qx, qy, k=k, amenities=amenities, status=status, open_at=at)
    qualify = [
        row
        for row in range(len(index))
        if (status is None or index.status[row] == status)
        and all(index.has[row, CODES.index(c)] for c in amenities)
        and (at is None or is_open(index.hours.hours[index.hours.ids[row]], at))
    ]
    truth = sorted((math.dist(index.xy[row], (qx, qy)), row) for row in qualify)[:k]
    assert len(rows) == len(truth)
    assert dists == pytest.approx([d for d, _ in truth], rel=1e-12, abs=1e-6)
    assert dists == sorted(dists)
    for row, d in zip(rows, dists, strict=True):  # right stations, right distances
        assert row in qualify
        assert math.dist(index.xy[row], (qx, qy)) == pytest.approx(d, rel=1e-12, abs=1e-6)
    assert len(set(rows)) == len(rows)
    # equal distances (stacked stations) go to the lower row
    assert [(round(d, 6), r) for d, r in zip(dists, rows, strict=True)] == [
        (round(d, 6), r) for d, r in truth
    ]


def test_far_points_all_around_a_few_stations():
    """Points at 1 to 20 times the stations' extent, all around them: the bucket search sees
    only part of the grid from there and must not stop at the first station it meets."""
    for seed in range(12):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(3, 40))
        xy = 500_000 + rng.uniform(0, 40_000, (n, 2)) * rng.uniform(0.05, 1, 2)
        index = StationIndex(
            xy[:, 0],
            xy[:, 1],
            amenities=[["water"]] * n,
            status=["open"] * n,
            opening_hours=["24/7"] * n,
            amenity_codes=CODES,
        )
        centre = xy.mean(axis=0)
        for radius in np.geomspace(40_000, 800_000, 25):
            for angle in np.linspace(0, 2 * np.pi, 72, endpoint=False):
                qx, qy = centre + radius * np.array([np.cos(angle), np.sin(angle)])
                rows, dists = index.query_one(float(qx), float(qy), k=2)
                truth = np.sort(np.hypot(xy[:, 0] - qx, xy[:, 1] - qy))[:2]
                assert dists == pytest.approx(truth, rel=1e-12), (seed, radius, angle)


def test_warm_city_has_the_default_search_built(small_city):
    index = small_city.station_index
    index.clear_cache()
    small_city.warm()
    assert index.cached_filters == [((), "open")]  # open stations, any amenity: the courier's
    index.prepare(amenities=["water"])
    assert (("water",), "open") in index.cached_filters


def test_filter_indexes_are_dropped_beyond_their_station_budget(small_city):
    index = small_city.station_index
    budget = index.cache_stations
    try:
        index.clear_cache()
        index.cache_stations = 2  # stations in all
        index.prepare()  # the 3 open stations: over the budget alone, kept as the newest
        assert index.cached_filters == [((), "open")]
        index.prepare(amenities=["toilet"])  # 1 station: the older 3 go
        assert index.cached_filters == [(("toilet",), "open")]
        index.prepare(amenities=["ebike_charging"])
        index.prepare(amenities=["ebike_charging"])  # a hit keeps it, and the newest
        assert (("ebike_charging",), "open") in index.cached_filters
        assert index.cached_stations <= 2
        # answers do not depend on what is cached
        assert ids(nearest_stations(small_city, *PROBE, k=2)) == ["S1", "S2"]
    finally:
        index.cache_stations = budget
