import datetime as dt

import numpy as np
import pytest
from conftest import metric_point

from geo.errors import InvalidInput
from geo.nearest import nearest_stations

PROBE = (114.0015, 30.5015)


def ids(found):
    return [s.station_id for s in found]


def test_one_metre_further_comes_second(small_city):
    near = nearest_stations(small_city, *PROBE, k=2)
    assert ids(near) == ["S1", "S2"]
    assert [s.distance_m for s in near] == pytest.approx([100.0, 101.0], abs=1e-6)
    assert near[0].name == "一号驿站" and near[0].amenities == ("rest", "water")


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
    assert ids(nearest_stations(small_city, *PROBE, k=3, open_at=at)) == expected


def test_open_at_aware_time_is_converted_to_local(small_city):
    utc = dt.datetime(2026, 6, 1, 14, 30, tzinfo=dt.UTC)  # 22:30 in Shanghai
    assert ids(nearest_stations(small_city, *PROBE, k=3, open_at=utc)) == ["S2"]


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
