"""One nearest-station query against the prebuilt index vs geopandas ``sjoin_nearest`` on a
one-row frame, on the demo city, in the same process.

Prints microseconds per query for the index alone (metric point in, station rows out), for the
whole ``nearest_stations`` call (GCJ-02 point in, a small table out), and for the baseline; the
last line is ``speedup_vs_sjoin_nearest=<ratio>`` for the index query.

    python benchmarks/nearest.py [--queries 20000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import geopandas as gpd
import numpy as np

from geo.city import load_city
from geo.stations import nearest_stations


def per_query_us(fn, points) -> float:
    t0 = time.perf_counter()
    for lon, lat in points:
        fn(lon, lat)
    return (time.perf_counter() - t0) / len(points) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=20_000)
    args = parser.parse_args()
    city = load_city().warm()
    rng = np.random.default_rng(0)
    xmin, ymin, xmax, ymax = city.subdistricts.total_bounds
    lon = rng.uniform(xmin, xmax, args.queries)
    lat = rng.uniform(ymin, ymax, args.queries)
    x, y = city.to_metric(lon, lat)
    at = dt.datetime(2026, 6, 1, 21, 0)
    index = city.station_index

    idx_us = per_query_us(
        lambda a, b: index.query_one(a, b, k=3, amenities=["water"], open_at=at),
        list(zip(x.tolist(), y.tolist(), strict=True)),
    )
    call_us = per_query_us(
        lambda a, b: nearest_stations(city, a, b, crs="gcj02", k=3, amenities=["water"]),
        list(zip(lon.tolist(), lat.tolist(), strict=True))[: max(args.queries // 10, 100)],
    )
    stations = city.stations[
        (city.stations["status"] == "open") & city.stations["amenities"].map(lambda a: "water" in a)
    ].to_crs(city.metric_crs)

    def baseline(a, b):
        point = gpd.GeoDataFrame(geometry=gpd.points_from_xy([a], [b]), crs=city.metric_crs)
        return gpd.sjoin_nearest(point, stations, distance_col="distance_m")

    base_us = per_query_us(
        baseline, list(zip(x.tolist(), y.tolist(), strict=True))[: max(args.queries // 20, 100)]
    )
    print(f"index query (k=3, water, open at 21:00): {idx_us:9.1f} us")
    print(f"nearest_stations() call, GCJ-02 in      : {call_us:9.1f} us")
    print(f"geopandas sjoin_nearest, one-row frame : {base_us:9.1f} us")
    print(f"speedup_vs_sjoin_nearest={base_us / idx_us:.1f}")


if __name__ == "__main__":
    main()
