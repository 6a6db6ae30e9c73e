"""The command line: ``python -m data.generator [--out DIR]``, run from the project root.

Builds the layers in order, each from its own random stream (``default_rng([SEED, k])``), and
the units table from the subdistricts, writes the pack to DIR (default ``data/demo``), checks
what it wrote and prints a summary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from data import DEMO_DIR
from data.generator.check import check_pack
from data.generator.frames import METRIC_CRS, OX, OY
from data.generator.grid import build_grid
from data.generator.history import build_history, build_staff, write_history
from data.generator.plan import CITY_NAME, RIVER_NAME, make_plan, word_pool
from data.generator.stations import N_STATIONS, build_stations
from data.generator.streets import build_streets
from data.generator.tips import N_TIPS, build_tips
from data.generator.units import build_units
from data.generator.write import write_pack
from geo.crs import unproject

SEED = 20260101
OUT_DIR = DEMO_DIR


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m data.generator", description="Generate the synthetic demo city data pack."
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (data/demo)")
    out_dir = parser.parse_args(argv).out
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = make_plan(np.random.default_rng([SEED, 0]))
    words = iter(word_pool(np.random.default_rng([SEED, 1])))
    subdistricts, cells = build_grid(np.random.default_rng([SEED, 2]), plan, words)
    streets = build_streets(np.random.default_rng([SEED, 3]), plan, words)
    stations = build_stations(np.random.default_rng([SEED, 4]), plan, streets, subdistricts, cells)
    tips = build_tips(np.random.default_rng([SEED, 5]), plan, streets)
    units = build_units(subdistricts)
    write_pack(out_dir, subdistricts, cells, streets, stations, tips, units)
    cases, history = build_history(np.random.default_rng([SEED, 6]), tips, plan.city)
    staff, tokens = build_staff(SEED)
    write_history(out_dir, cases, history, staff)
    summary = check_pack(out_dir, plan)

    lon, lat = unproject(
        np.array(plan.city.bounds[::2]) + OX, np.array(plan.city.bounds[1::2]) + OY, METRIC_CRS
    )
    print(
        f"{CITY_NAME}: {summary['city_area_km2']:.1f} km2, bbox "
        f"{lon[0]:.4f},{lat[0]:.4f} .. {lon[1]:.4f},{lat[1]:.4f}; river {RIVER_NAME}"
    )
    print(
        f"subdistricts {len(subdistricts)}, grid cells {len(cells)}, communities "
        f"{len({c.code[:12] for c in cells})}, households {sum(c.households for c in cells)}"
    )
    print(
        f"streets {sum(summary['streets'].values())} {summary['streets']}, "
        f"{summary['street_names']} names, {summary['street_km']:.0f} km, "
        f"bridges {len(summary['bridges'])}: {' '.join(summary['bridges'])}"
    )
    print(
        f"stations {N_STATIONS}: status {summary['station_status']}, 24/7 "
        f"{summary['station_24_7']}, min spacing {summary['station_min_spacing_m']:.0f} m, "
        "street distance %.1f-%.1f m" % summary["station_street_distance_m"]
    )
    print(
        f"tips {N_TIPS}: outside city {summary['tips_outside']}, within 30 m of a street "
        f"{summary['tips_within_30m_of_street']:.1%}, reporters {summary['tip_reporters']}, "
        f"status {summary['tip_status']}"
    )
    print(f"tip categories {summary['tip_categories']}")
    print(f"units {len(units)}, one for every category in every subdistrict")
    actions: dict[str, int] = {}
    for row in history:
        actions[row["action"]] = actions.get(row["action"], 0) + 1
    print(f"case history: {len(history)} actions {actions}; {len(cases)} cases from other sources")
    print("demo staff tokens (for the demo only; `yizhan serve` makes these accounts):")
    for row in staff:
        scope = row["unit_id"] or "全市"
        print(f"  {row['staff_id']:<10} {row['role']:<10} {scope:<5} {tokens[row['staff_id']]}")
    print(
        "self-check passed: valid polygons after rounding; grid "
        f"{summary['grid_noded']}; max cell overlap {summary['max_overlap_m2']:.2e} m2; "
        f"|union(cells) - subdistricts - outline| {summary['union_diff_m2']:.2e} m2; "
        f"min share in own subdistrict {summary['min_share_in_own_subdistrict']:.6f}; "
        f"streets noded, {summary['street_components']} connected component; GCJ-02 CSV "
        f"round trip {summary['gcj02_roundtrip_max_m'] * 1000:.1f} mm"
    )


if __name__ == "__main__":
    main()
