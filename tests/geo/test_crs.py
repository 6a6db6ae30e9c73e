import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import crs as gcrs
from geo.errors import UnknownCRS

# mainland China, well inside the GCJ-02 box
china_lon = st.floats(min_value=73.7, max_value=134.7, allow_nan=False)
china_lat = st.floats(min_value=18.2, max_value=53.5, allow_nan=False)


def metres(lon1, lat1, lon2, lat2):
    """Great-circle-free small-distance metres (equirectangular, fine below a kilometre)."""
    k = np.cos(np.radians(lat1))
    return np.hypot((lon2 - lon1) * 111_320 * k, (lat2 - lat1) * 110_574)


@settings(max_examples=300, deadline=None)
@given(china_lon, china_lat)
def test_gcj02_round_trip_under_a_centimetre(lon, lat):
    glon, glat = gcrs.from_wgs84(lon, lat, crs="gcj02")
    back = gcrs.to_wgs84(glon, glat, crs="gcj02")
    assert metres(lon, lat, *back) < 0.01


@settings(max_examples=200, deadline=None)
@given(china_lon, china_lat)
def test_bd09_round_trip_under_a_centimetre(lon, lat):
    blon, blat = gcrs.from_wgs84(lon, lat, crs="bd09")
    back = gcrs.to_wgs84(blon, blat, crs="bd09")
    assert metres(lon, lat, *back) < 0.01


def test_gcj02_offset_is_hundreds_of_metres_in_china():
    glon, glat = gcrs.from_wgs84(114.15, 30.55, crs="gcj02")
    offset = metres(114.15, 30.55, glon, glat)
    assert 300 < offset < 700


def test_gcj02_inverse_beats_the_one_step_formula():
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(100, 125, 20_000), rng.uniform(20, 45, 20_000)
    glon, glat = gcrs.from_wgs84(lon, lat, crs="gcj02")
    flon, flat = gcrs.wgs84_to_gcj02(glon, glat)
    one_step = metres(lon, lat, 2 * glon - flon, 2 * glat - flat)
    iterated = metres(lon, lat, *gcrs.to_wgs84(glon, glat, crs="gcj02"))
    assert one_step.max() > 1.0  # the common formula is off by metres
    assert iterated.max() < 0.01


def test_known_amap_value():
    # Tiananmen flagpole area: WGS84 -> GCJ-02 published by many converters
    glon, glat = gcrs.from_wgs84(116.391349, 39.907375, crs="gcj02")
    assert glon == pytest.approx(116.397590, abs=2e-5)
    assert glat == pytest.approx(39.908776, abs=2e-5)


def test_outside_china_unchanged_point_by_point():
    lon = np.array([2.35, 114.15, -74.0])
    lat = np.array([48.85, 30.55, 40.7])
    glon, glat = gcrs.from_wgs84(lon, lat, crs="gcj02")
    assert glon[0] == 2.35 and glat[0] == 48.85
    assert glon[2] == -74.0 and glat[2] == 40.7
    assert glon[1] != 114.15  # the Chinese point in the same array is shifted
    blon, blat = gcrs.to_wgs84(lon, lat, crs="bd09")
    assert blon[0] == 2.35 and blat[2] == 40.7


def test_scalars_and_nan():
    lon, lat = gcrs.to_wgs84(114.0, 30.0, crs="gcj02")
    assert isinstance(lon, float) and isinstance(lat, float)
    x, y = gcrs.to_wgs84(np.array([np.nan, 114.0]), np.array([30.0, 30.0]), crs="gcj02")
    assert np.isnan(x[0]) and np.isfinite(x[1])


def test_epsg_projected_round_trip():
    x, y = gcrs.from_wgs84(114.0, 30.5, crs="EPSG:4547")
    assert x == pytest.approx(500_000, abs=0.01)  # on the central meridian
    lon, lat = gcrs.to_wgs84(x, y, crs="epsg:4547")
    assert lon == pytest.approx(114.0, abs=1e-9) and lat == pytest.approx(30.5, abs=1e-9)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("WGS84", "wgs84"),
        ("EPSG:4326", "wgs84"),
        ("EPSG:4490", "wgs84"),
        ("GCJ-02", "gcj02"),
        ("bd09", "bd09"),
        ("epsg:3857", "EPSG:3857"),
    ],
)
def test_parse_crs(value, expected):
    assert gcrs.parse_crs(value) == expected


@pytest.mark.parametrize("value", ["", "mars", "EPSG:999999", "EPSG:abc"])
def test_parse_crs_refuses_with_the_value(value):
    with pytest.raises(UnknownCRS, match="crs"):
        gcrs.parse_crs(value)


@pytest.mark.parametrize(
    ("lon", "epsg"),
    [(114.2, 4547), (112.4, 4546), (112.6, 4547), (116.4, 4548), (121.4, 4549), (87.6, 4538)],
)
def test_gauss_kruger_zone(lon, epsg):
    assert gcrs.gauss_kruger_epsg(lon) == epsg


def test_metric_crs_override_must_be_projected():
    assert gcrs.metric_crs_for([114.2], override="EPSG:4547") == "EPSG:4547"
    with pytest.raises(UnknownCRS, match="projected"):
        gcrs.metric_crs_for([114.2], override="EPSG:4326")
    with pytest.raises(UnknownCRS, match="longitude"):
        gcrs.metric_crs_for([10.0])


@settings(max_examples=200, deadline=None)
@given(st.floats(60, 140), st.floats(-5, 60), st.sampled_from(["gcj02", "bd09"]))
def test_one_point_path_matches_the_array_path(lon, lat, name):
    for fn in (gcrs.to_wgs84, gcrs.from_wgs84):
        one = fn(lon, lat, crs=name)
        many = fn(np.array([lon]), np.array([lat]), crs=name)
        assert one[0] == pytest.approx(many[0][0], abs=1e-9)
        assert one[1] == pytest.approx(many[1][0], abs=1e-9)
