"""A tips heatmap of 1,000,000 tips over the demo city: the project's page vs a plain Folium one.

Tips are clustered along the streets (a tenth spread over the city's bounding box, some of them
outside every cell), with random categories and report times from January to June 2026. They are
assigned with ``geo.assign.assign_points`` and stored in a SQLite store in a temporary folder,
not timed: the service assigns and stores each tip when it arrives. Then, in this process:

(a) the project's page, as ``/maps/heatmap`` builds it: ``heat_weights`` asked of the store
    (per-cell weights above ``raw_max``) and ``heatmap_page`` (a month view and a category filter
    over one compact table);
(b) the plain way: ``folium.plugins.HeatMap`` of every tip as a point on a ``folium.Map``.

It prints the build time and page size of each and, as its last line,
``speedup_vs_folium=<ratio>``; it fails if the project's page is 2 MB or more.

    python benchmarks/heatmap.py [--tips 1000000] [--seed 1] [--db URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import folium
import numpy as np
import pandas as pd
from folium.plugins import HeatMap

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this working tree

from api.services.planning import heat_weights  # noqa: E402
from api.stores import TIP_COLUMNS, open_store  # noqa: E402
from geo.assign import assign_points  # noqa: E402
from geo.city import load_city  # noqa: E402
from geo.coverage import DemandSpec  # noqa: E402
from geo.hours import CITY_TZ  # noqa: E402
from maps.heatmap import heatmap_page  # noqa: E402

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
    seconds = rng.integers(start, end, n) // 10**9 * 10**9  # whole seconds, as tips arrive
    reported_at = pd.to_datetime(seconds, utc=True).tz_convert(CITY_TZ)
    codes = city.categories["code"].to_numpy()
    return pd.DataFrame(
        {
            "lon": lon,
            "lat": lat,
            "reported_at": reported_at,
            "category": codes[rng.integers(0, len(codes), n)],
        }
    )


def store_tips(store, tips: pd.DataFrame, where: pd.DataFrame) -> None:
    """Put the assigned tips in the store, 100,000 at a time."""
    table = pd.concat([tips.reset_index(drop=True), where], axis=1)
    table["tip_id"] = [f"T{i:08d}" for i in range(len(table))]
    table["reported_at"] = table["reported_at"].map(lambda t: t.isoformat())
    table["description"], table["reporter_id"], table["status"] = "", "r", "open"
    table["outside_city"] = table["outside_city"].astype(bool)
    records = table[list(TIP_COLUMNS)].astype(object).where(table.notna(), None)
    for start in range(0, len(records), 100_000):
        store.import_tips(records.iloc[start : start + 100_000].to_dict(orient="records"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tips", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", help="an empty store to use (default: SQLite in a temp folder)")
    args = parser.parse_args()

    city = load_city().warm()
    tips = synthetic_tips(city, args.tips, args.seed)
    t0 = time.perf_counter()
    where = assign_points(city, tips["lon"].to_numpy(), tips["lat"].to_numpy())
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(args.db or f"sqlite:///{Path(tmp) / 'tips.db'}")
        try:
            store_tips(store, tips, where)
            print(
                f"{len(tips):,} tips, {int(where['grid_code'].isna().sum()):,} outside every "
                f"cell (assigned and stored in {time.perf_counter() - t0:.1f} s, not timed)"
            )
            t0 = time.perf_counter()
            weights, aggregated = heat_weights(store, city, DemandSpec(), raw_max=5000)
            t1 = time.perf_counter()
        finally:
            store.close()
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
    print(f"  heat_weights (store)   : {weights_s:7.2f} s")
    print(f"  heatmap_page           : {page_s:7.2f} s")
    print(f"folium HeatMap of points : {plain_s:7.2f} s  {plain_mb:7.2f} MB")
    assert ours_mb * 1e6 < MAX_PAGE_BYTES, f"the page is {ours_mb:.2f} MB, over 2 MB"
    print(f"speedup_vs_folium={plain_s / ours_s:.1f}")


if __name__ == "__main__":
    main()
