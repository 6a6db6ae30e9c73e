"""Assign 1,000,000 tips over the demo city: the project's assignment vs a plain geopandas pipeline.

The baseline is what one would write with geopandas alone: ``sjoin`` to the grid and to the
subdistricts in WGS84, then ``sjoin_nearest`` to the streets and to the open stations in the
metric CRS (ties broken the same way: lowest grid code, lowest street/station row). Both run in
this process on the same points; the script checks they agree and prints tips per second for
each, then, as its last line, ``speedup_vs_geopandas=<ratio>``.

    python benchmarks/assign.py [--points 1000000] [--seed 1]
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.assign import assign_points
from geo.city import load_city


def random_points(city, n: int, seed: int):
    """Half uniform over the city's bounding box, half clustered along streets (as tips are)."""
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = city.subdistricts.total_bounds
    half = n // 2
    lon = rng.uniform(xmin, xmax, half)
    lat = rng.uniform(ymin, ymax, half)
    street_pts = city.streets.geometry.sample_points(size=20, rng=seed).explode().to_numpy()
    pick = rng.integers(0, len(street_pts), n - half)
    jitter = rng.normal(0, 0.0002, (n - half, 2))
    lon = np.concatenate([lon, np.array([p.x for p in street_pts])[pick] + jitter[:, 0]])
    lat = np.concatenate([lat, np.array([p.y for p in street_pts])[pick] + jitter[:, 1]])
    return lon, lat


def geopandas_pipeline(city, lon, lat) -> pd.DataFrame:
    """The plain geopandas way, with the same tie rules."""
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
    grid = city.grid[["grid_code", "subdistrict_code", "geometry"]]
    j = gpd.sjoin(pts, grid, how="left", predicate="intersects")
    j = j.sort_values("grid_code", kind="stable")
    j = j[~j.index.duplicated(keep="first")].sort_index()
    subs = city.subdistricts[["subdistrict_code", "geometry"]].rename(
        columns={"subdistrict_code": "sub_of_point"}
    )
    js = gpd.sjoin(pts, subs, how="left", predicate="intersects")
    js = js.sort_values("sub_of_point", kind="stable")
    js = js[~js.index.duplicated(keep="first")].sort_index()

    metric = pts.to_crs(city.metric_crs)
    streets = city.streets[["street_name", "geometry"]].to_crs(city.metric_crs)
    st = gpd.sjoin_nearest(metric, streets, how="left", distance_col="street_distance_m")
    st = st.sort_values("index_right", kind="stable")
    st = st[~st.index.duplicated(keep="first")].sort_index()
    stations = city.stations[city.stations["status"] == "open"]
    stations = stations[["station_id", "geometry"]].to_crs(city.metric_crs)
    sn = gpd.sjoin_nearest(metric, stations, how="left", distance_col="station_distance_m")
    sn = sn.sort_values("index_right", kind="stable")
    sn = sn[~sn.index.duplicated(keep="first")].sort_index()
    return pd.DataFrame(
        {
            "grid_code": j["grid_code"].to_numpy(),
            "subdistrict_code": np.where(
                j["grid_code"].notna(), j["subdistrict_code"], js["sub_of_point"]
            ),
            "street_name": st["street_name"].to_numpy(),
            "street_distance_m": st["street_distance_m"].to_numpy(),
            "nearest_station_id": sn["station_id"].to_numpy(),
            "station_distance_m": sn["station_distance_m"].to_numpy(),
            "outside_city": j["grid_code"].isna().to_numpy(),
        }
    )


def compare(ours: pd.DataFrame, base: pd.DataFrame) -> None:
    """Raise if the two disagree (names may differ only on exact distance ties)."""
    for column in ("grid_code", "subdistrict_code"):
        a, b = ours[column].fillna("-").to_numpy(), base[column].fillna("-").to_numpy()
        bad = np.flatnonzero(a != b)
        assert bad.size == 0, f"{column} differs on {bad.size} points, e.g. row {bad[:5]}"
    assert (ours["outside_city"].to_numpy(bool) == base["outside_city"].to_numpy(bool)).all()
    for name, dist in (
        ("street_name", "street_distance_m"),
        ("nearest_station_id", "station_distance_m"),
    ):
        gap = np.abs(ours[dist].to_numpy() - base[dist].to_numpy())
        assert gap.max() < 1e-6, f"{dist} differs by up to {gap.max()} m"
        differ = ours[name].to_numpy() != base[name].to_numpy()
        print(f"  {name}: {int(differ.sum())} ties resolved to another equidistant feature")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    city = load_city()
    lon, lat = random_points(city, args.points, args.seed)
    print(f"{city.pack.summary()}\n{args.points:,} points")

    t0 = time.perf_counter()
    city.warm()
    build_s = time.perf_counter() - t0
    share = city.grid_lookup.unambiguous_share()
    print(f"index build (once per process): {build_s:.2f} s; raster answers {share:.1%} pixels")

    t0 = time.perf_counter()
    ours = assign_points(city, lon, lat)
    ours_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = geopandas_pipeline(city, lon, lat)
    base_s = time.perf_counter() - t0

    compare(ours, base)
    n = args.points
    print(f"agree: yes ({int(ours['outside_city'].sum()):,} points outside the city)")
    print(f"yizhan assign_points : {ours_s:6.2f} s  {n / ours_s:12,.0f} tips/s")
    print(f"geopandas sjoin path : {base_s:6.2f} s  {n / base_s:12,.0f} tips/s")
    print(f"speedup including the one-off index build: {base_s / (ours_s + build_s):.2f}")
    print(f"speedup_vs_geopandas={base_s / ours_s:.2f}")


if __name__ == "__main__":
    main()
