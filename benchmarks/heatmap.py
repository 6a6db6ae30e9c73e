"""A tips heatmap of 1,000,000 tips over the demo city: the project's page vs a plain Folium one.

Tips are clustered along the streets (a tenth spread over the city's bounding box, some of them
outside every cell), with random categories and report times from January to June 2026. Their
grid cells are assigned first with ``geo.assign.assign_points``, not timed: the service assigns
each tip when it arrives. Then, in this process:

(a) the project's page: ``heat_weights_from_tips`` (per-cell weights above ``raw_max``) and
    ``heatmap_page`` (a month view and a category filter over one compact table);
(b) the plain way: ``folium.plugins.HeatMap`` of every tip as a point on a ``folium.Map``.

It prints the build time and page size of each and, as its last line,
``speedup_vs_folium=<ratio>``; it fails if the project's page is 2 MB or more.

    python benchmarks/heatmap.py [--tips 1000000] [--seed 1]
"""

from __future__ import annotations

import argparse
import time

import folium
import numpy as np
import pandas as pd
from folium.plugins import HeatMap

from api.planning import heat_weights_from_tips
from geo.assign import assign_points
from geo.city import load_city
from geo.coverage import DemandSpec
from geo.hours import CITY_TZ
from maps.heatmap import heatmap_page

MAX_PAGE_BYTES = 2_000_000


def synthetic_tips(city, n: int, seed: int) -> pd.DataFrame:
    """``n`` tips: nine in ten near a street (busy streets more often), one in ten anywhere in
    the bounding box; categories and months at random (Jan-Jun 2026, local time)."""
    rng = np.random.default_rng(seed)
    spots = city.streets.geometry.sample_points(size=40, rng=seed).explode().to_numpy()
    spot_lon = np.array([p.x for p in spots])
    spot_lat = np.array([p.y for p in spots])
    popularity = rng.pareto(1.5, len(spots)) + 1  # a few spots draw many reports
    near = int(n * 0.9)
    pick = rng.choice(len(spots), near, p=popularity / popularity.sum())
    xmin, ymin, xmax, ymax = city.grid.total_bounds
    lon = np.concatenate(
        [spot_lon[pick] + rng.normal(0, 0.0003, near), rng.uniform(xmin, xmax, n - near)]
    )
    lat = np.concatenate(
        [spot_lat[pick] + rng.normal(0, 0.0003, near), rng.uniform(ymin, ymax, n - near)]
    )
    start = pd.Timestamp("2026-01-01", tz=CITY_TZ).value
    end = pd.Timestamp("2026-07-01", tz=CITY_TZ).value
    reported_at = pd.to_datetime(rng.integers(start, end, n), utc=True).tz_convert(CITY_TZ)
    codes = city.categories["code"].to_numpy()
    return pd.DataFrame(
        {
            "lon": lon,
            "lat": lat,
            "reported_at": reported_at,
            "category": codes[rng.integers(0, len(codes), n)],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tips", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    city = load_city().warm()
    tips = synthetic_tips(city, args.tips, args.seed)
    t0 = time.perf_counter()
    where = assign_points(city, tips["lon"].to_numpy(), tips["lat"].to_numpy())
    tips["grid_code"] = where["grid_code"].to_numpy()
    print(
        f"{len(tips):,} tips, {int(tips['grid_code'].isna().sum()):,} outside every cell "
        f"(assigned in {time.perf_counter() - t0:.2f} s, not timed)"
    )

    t0 = time.perf_counter()
    weights, aggregated = heat_weights_from_tips(city, tips, DemandSpec(), raw_max=5000)
    t1 = time.perf_counter()
    ours = heatmap_page(city, weights, aggregated=aggregated, categories=city.categories)
    ours_s = time.perf_counter() - t0
    weights_s, page_s = t1 - t0, time.perf_counter() - t1
    ours_mb = len(ours.encode("utf-8")) / 1e6

    t0 = time.perf_counter()
    minx, miny, maxx, maxy = city.grid.total_bounds
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=12)
    HeatMap(np.column_stack([tips["lat"].to_numpy(), tips["lon"].to_numpy()])).add_to(m)
    plain = m.get_root().render()
    plain_s = time.perf_counter() - t0
    plain_mb = len(plain.encode("utf-8")) / 1e6

    print(
        f"yizhan weights + page    : {ours_s:7.2f} s  {ours_mb:7.2f} MB  "
        f"({len(weights):,} weights, aggregated={aggregated})"
    )
    print(f"  heat_weights_from_tips : {weights_s:7.2f} s")
    print(f"  heatmap_page           : {page_s:7.2f} s")
    print(f"folium HeatMap of points : {plain_s:7.2f} s  {plain_mb:7.2f} MB")
    assert ours_mb * 1e6 < MAX_PAGE_BYTES, f"the page is {ours_mb:.2f} MB, over 2 MB"
    print(f"speedup_vs_folium={plain_s / ours_s:.1f}")


if __name__ == "__main__":
    main()
