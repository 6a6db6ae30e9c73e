"""Generate the synthetic demo city pack in ``data/demo`` (江城市, a fictional city).

Run from the project root: ``python -m data.generator``. The output is deterministic: every
random draw comes from ``numpy.random.default_rng`` with fixed seeds (one stream per layer),
nothing depends on set iteration order or the clock, and two runs give byte-identical files.

The city is made up -- names, admin codes, phone numbers and reporters are all fictional. It is
placed near 114.15 E 30.55 N only so that GCJ-02 and the CGCS2000 Gauss-Kruger zone EPSG:4547
apply. Geometry is designed in EPSG:4547 metres (in a local frame centred on the city). Shared
boundaries and street crossings are then noded by snap-rounding on the 1e-7 degree WGS84 lattice
that the GeoJSON coordinates are rounded to, so polygons still tile exactly and streets still meet
at shared vertices after rounding. The script checks its own output before it finishes.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np
import shapely
from scipy.spatial import cKDTree

from data import DEMO_DIR
from data.generator.frames import (
    METRIC_CRS,
    OX,
    OY,
    SCALE,
    X0,
    Y0,
    int_coords,
    lattice_from_local,
    local_from_lattice,
    lonlat_coords,
    to_local,
)
from data.generator.grid import build_grid
from data.generator.plan import (
    CITY_NAME,
    RIVER_NAME,
    Plan,
    make_plan,
    word_pool,
)
from data.generator.stations import AMENITIES, N_STATIONS, build_stations
from data.generator.streets import build_streets
from data.generator.tips import CATEGORIES, N_TIPS, N_TIPS_OUTSIDE, TZ, build_tips
from data.generator.topology import (
    components,
    ring_keys,
    xor_keys,
)
from geo.crs import from_wgs84, project, to_wgs84, unproject

SEED = 20260101
OUT_DIR = DEMO_DIR


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def point_lattice(pts: np.ndarray) -> np.ndarray:
    return np.rint(lattice_from_local(np.asarray(pts, dtype=float))).astype(np.int64)


def write_geojson(path: Path, features: list[tuple[dict, dict]]) -> None:
    """RFC 7946 FeatureCollection, one feature per line, keys in a fixed order, no "crs"."""
    lines = ['{"type":"FeatureCollection","features":[']
    for i, (props, geometry) in enumerate(features):
        feature = {"type": "Feature", "properties": props, "geometry": geometry}
        text = json.dumps(feature, ensure_ascii=False, separators=(",", ":"))
        lines.append(text + ("," if i < len(features) - 1 else ""))
    lines.append("]}")
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


def write_pack(out: Path, subdistricts, cells, streets, stations, tips) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_geojson(
        out / "subdistricts.geojson",
        [
            (
                {"subdistrict_code": s.code, "name": s.name, "district": s.district},
                {"type": "Polygon", "coordinates": [lonlat_coords(s.ring)]},
            )
            for s in subdistricts
        ],
    )
    write_geojson(
        out / "grid.geojson",
        [
            (
                {
                    "grid_code": c.code,
                    "name": c.name,
                    "subdistrict_code": subdistricts[c.subdistrict].code,
                    "households": c.households,
                },
                {"type": "Polygon", "coordinates": [lonlat_coords(c.ring)]},
            )
            for c in cells
        ],
    )
    write_geojson(
        out / "streets.geojson",
        [
            (
                {"street_name": s.name, "road_class": s.road_class},
                {"type": "LineString", "coordinates": lonlat_coords(s.coords)},
            )
            for s in streets
        ],
    )
    st_xy = point_lattice(np.array([s["pt"] for s in stations]))
    write_geojson(
        out / "stations.geojson",
        [
            (s["props"], {"type": "Point", "coordinates": lonlat_coords(xy[None])[0]})
            for s, xy in zip(stations, st_xy, strict=True)
        ],
    )
    tip_xy = point_lattice(np.array([t["pt"] for t in tips]))
    tip_props = [
        {
            "tip_id": t["tip_id"],
            "reported_at": t["when"].isoformat(),
            "category": t["category"],
            "description": t["description"],
            "reporter_id": t["reporter_id"],
            "status": t["status"],
        }
        for t in tips
    ]
    write_geojson(
        out / "tips.geojson",
        [
            (props, {"type": "Point", "coordinates": lonlat_coords(xy[None])[0]})
            for props, xy in zip(tip_props, tip_xy, strict=True)
        ],
    )
    lonlat = np.array(lonlat_coords(tip_xy))
    glon, glat = from_wgs84(lonlat[:, 0], lonlat[:, 1], crs="gcj02")
    with (out / "tips_as_received_gcj02.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(
            [
                "tip_id",
                "reported_at",
                "category",
                "description",
                "reporter_id",
                "status",
                "lon",
                "lat",
            ]
        )
        for props, x, y in zip(tip_props, glon, glat, strict=True):
            writer.writerow([*props.values(), f"{x:.7f}", f"{y:.7f}"])
    (out / "pack.toml").write_text(
        f'name = "{CITY_NAME}"\n'
        'description = "合成示范数据：虚构城市的街道、网格、路网、68个暖心驿站和2026年上半年'
        "约1200条骑手上报线索。地名、编码、电话和上报人均为虚构，"
        '仅为适用GCJ-02和高斯-克吕格3度带（EPSG:4547）而置于东经114.15°、北纬30.55°附近。"\n'
        "# metric_crs is chosen from the data (EPSG:4547); every layer here is GeoJSON,\n"
        "# so no [csv_crs] table is needed.\n",
        encoding="utf-8",
        newline="\n",
    )


# --------------------------------------------------------------------------------------------
# Self-check of the written files
# --------------------------------------------------------------------------------------------


def _read(out: Path, name: str) -> list[dict]:
    doc = json.loads((out / f"{name}.geojson").read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection" and "crs" not in doc, name
    return doc["features"]


def _lattice_of(coords) -> np.ndarray:
    a = np.asarray(coords, dtype=float)
    return np.rint(a * SCALE - np.array([X0, Y0])).astype(np.int64)


def _metric(geoms):
    def fn(c):
        x, y = project(c[:, 0], c[:, 1], METRIC_CRS)
        return np.column_stack([x, y])

    return shapely.transform(geoms, fn)


def check_pack(out: Path, plan: Plan) -> dict:
    """Re-read the written pack and assert the promises of the brief; return a summary."""
    summary: dict = {}
    subs = _read(out, "subdistricts")
    grid = _read(out, "grid")
    codes = [f["properties"]["subdistrict_code"] for f in subs]
    assert 6 <= len(subs) <= 10 and len(set(codes)) == len(codes)
    assert all(len(c) == 9 and c.isdigit() for c in codes)
    assert 2000 <= len(grid) <= 5000
    gcodes = [f["properties"]["grid_code"] for f in grid]
    assert len(set(gcodes)) == len(gcodes)
    for f in grid:
        pr, g = f["properties"], f["geometry"]
        assert g["type"] == "Polygon" and len(pr["grid_code"]) == 14 and pr["grid_code"].isdigit()
        assert pr["subdistrict_code"] in codes
        assert pr["grid_code"].startswith(pr["subdistrict_code"])
    per_comm = defaultdict(int)
    for c in gcodes:
        per_comm[c[:12]] += 1
    assert max(per_comm.values()) <= 99

    sub_poly = np.array([shapely.polygons(f["geometry"]["coordinates"][0]) for f in subs])
    grid_poly = np.array([shapely.polygons(f["geometry"]["coordinates"][0]) for f in grid])
    assert shapely.is_valid(sub_poly).all() and shapely.is_valid(grid_poly).all()
    for f in [*subs, *grid]:
        ring = np.asarray(f["geometry"]["coordinates"][0])
        assert np.sum(ring[:-1, 0] * ring[1:, 1] - ring[1:, 0] * ring[:-1, 1]) > 0  # CCW

    # exact noding on the lattice: every cell edge is shared with exactly one other cell or lies
    # on the city outline, and each subdistrict boundary is exactly its cells' outer edges
    grid_rings = [_lattice_of(f["geometry"]["coordinates"][0]) for f in grid]
    count: dict[tuple[int, int, int, int], int] = defaultdict(int)
    for ring in grid_rings:
        for key in ring_keys(ring):
            count[key] += 1
    assert max(count.values()) <= 2
    outline = set(ring_keys(int_coords(plan.city_lattice.exterior)))
    assert {k for k, c in count.items() if c == 1} == outline
    for f in subs:
        code = f["properties"]["subdistrict_code"]
        members = [
            r
            for r, g in zip(grid_rings, grid, strict=True)
            if g["properties"]["subdistrict_code"] == code
        ]
        assert set(ring_keys(_lattice_of(f["geometry"]["coordinates"][0]))) == set(
            xor_keys(members)
        ), code
    summary["grid_noded"] = "every cell edge shared exactly or on the outline"

    gm, sm = _metric(grid_poly), _metric(sub_poly)
    city_m = _metric(shapely.polygons((int_coords(plan.city_lattice.exterior) + [X0, Y0]) / SCALE))
    pairs = shapely.STRtree(gm).query(gm, predicate="intersects")
    pairs = pairs[:, pairs[0] < pairs[1]]
    overlap = shapely.area(shapely.intersection(gm[pairs[0]], gm[pairs[1]]))
    summary["max_overlap_m2"] = float(overlap.max())
    assert summary["max_overlap_m2"] < 0.01
    u_grid, u_sub = shapely.union_all(gm), shapely.union_all(sm)
    summary["union_diff_m2"] = max(
        float(u_grid.symmetric_difference(u_sub).area),
        float(u_grid.symmetric_difference(city_m).area),
        abs(float(shapely.area(gm).sum() - city_m.area)),
    )
    assert summary["union_diff_m2"] < 1.0
    sub_of = {c: p for c, p in zip(codes, sm, strict=True)}
    own = np.array([sub_of[f["properties"]["subdistrict_code"]] for f in grid])
    share = shapely.area(shapely.intersection(gm, own)) / shapely.area(gm)
    summary["min_share_in_own_subdistrict"] = float(share.min())
    assert share.min() >= 0.9999
    summary["city_area_km2"] = city_m.area / 1e6

    streets = _read(out, "streets")
    assert 200 <= len(streets) <= 500
    assert {f["properties"]["road_class"] for f in streets} <= {"arterial", "secondary", "local"}
    lines = np.array(
        [shapely.linestrings(_lattice_of(f["geometry"]["coordinates"])) for f in streets]
    )
    verts = [set(map(tuple, _lattice_of(f["geometry"]["coordinates"]).tolist())) for f in streets]
    pairs = shapely.STRtree(lines).query(lines, predicate="intersects")
    for i, j in pairs.T[pairs[0] < pairs[1]]:
        inter = shapely.intersection(lines[i], lines[j])
        pts = shapely.get_coordinates(inter)
        assert inter.geom_type in ("Point", "MultiPoint"), (i, j, inter.geom_type)
        for x, y in np.rint(pts).astype(np.int64):
            assert (x, y) in verts[i] and (x, y) in verts[j], (i, j)
    allv, inv = np.unique(
        np.vstack([_lattice_of(f["geometry"]["coordinates"]) for f in streets]),
        axis=0,
        return_inverse=True,
    )
    inv, edges, k = inv.ravel(), [], 0
    for f in streets:
        n = len(f["geometry"]["coordinates"])
        edges += list(zip(inv[k : k + n - 1].tolist(), inv[k + 1 : k + n].tolist(), strict=True))
        k += n
    summary["street_components"] = int(components(len(allv), edges).max() + 1)
    assert summary["street_components"] == 1
    sl = np.array([to_local(ln) for ln in lines])
    assert shapely.covered_by(sl, plan.city).all()
    crossing = [
        f["properties"]["street_name"]
        for f, ln in zip(streets, sl, strict=True)
        if ln.intersects(plan.river)
    ]
    assert 3 <= len(crossing) <= 5 and all(c.startswith(RIVER_NAME) for c in crossing)
    summary["bridges"] = crossing
    summary["streets"] = {
        c: sum(f["properties"]["road_class"] == c for f in streets)
        for c in ("arterial", "secondary", "local")
    }
    summary["street_names"] = len({f["properties"]["street_name"] for f in streets})
    summary["street_km"] = float(shapely.length(sl).sum() / 1000.0)

    stations = _read(out, "stations")
    assert len(stations) == N_STATIONS
    assert [f["properties"]["station_id"] for f in stations] == [
        f"S{i:03d}" for i in range(1, N_STATIONS + 1)
    ]
    known = {code for code, _ in AMENITIES}
    for f in stations:
        pr = f["properties"]
        assert set(pr["amenities"].split(";")) <= known
        _check_hours(pr["opening_hours"])
    sxy = np.array([f["geometry"]["coordinates"] for f in stations])
    sp = shapely.points(local_from_lattice(_lattice_of(sxy).astype(float)))
    assert shapely.contains(plan.city, sp).all() and not shapely.intersects(plan.river, sp).any()
    d, _ = cKDTree(shapely.get_coordinates(sp)).query(shapely.get_coordinates(sp), k=2)
    summary["station_min_spacing_m"] = float(d[:, 1].min())
    assert summary["station_min_spacing_m"] >= 150.0
    street_union = shapely.union_all(sl)
    sd = shapely.distance(sp, street_union)
    summary["station_street_distance_m"] = (float(sd.min()), float(sd.max()))
    summary["station_status"] = _counts(f["properties"]["status"] for f in stations)
    summary["station_24_7"] = sum(f["properties"]["opening_hours"] == "24/7" for f in stations)
    assert summary["station_status"] == {"closed": 3, "open": N_STATIONS - 5, "suspended": 2}

    tips = _read(out, "tips")
    assert len(tips) == N_TIPS
    times = [datetime.fromisoformat(f["properties"]["reported_at"]) for f in tips]
    assert times == sorted(times) and times[0] >= datetime(2026, 1, 1, tzinfo=TZ)
    assert times[-1] < datetime(2026, 7, 1, tzinfo=TZ)
    assert {f["properties"]["category"] for f in tips} <= set(CATEGORIES)
    txy = np.array([f["geometry"]["coordinates"] for f in tips])
    tp = shapely.points(local_from_lattice(_lattice_of(txy).astype(float)))
    inside = shapely.contains(plan.city, tp)
    summary["tips_outside"] = int((~inside).sum())
    assert summary["tips_outside"] == N_TIPS_OUTSIDE
    assert shapely.distance(tp[~inside], plan.city).max() <= 300.0
    td = shapely.distance(tp[inside], street_union)
    summary["tips_within_30m_of_street"] = float((td <= 30.0).mean())
    assert summary["tips_within_30m_of_street"] >= 0.99
    summary["tip_reporters"] = len({f["properties"]["reporter_id"] for f in tips})
    summary["tip_categories"] = _counts(f["properties"]["category"] for f in tips)
    summary["tip_status"] = _counts(f["properties"]["status"] for f in tips)

    with (out / "tips_as_received_gcj02.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["tip_id"] for r in rows] == [f["properties"]["tip_id"] for f in tips]
    back = to_wgs84(
        np.array([float(r["lon"]) for r in rows]),
        np.array([float(r["lat"]) for r in rows]),
        crs="gcj02",
    )
    err = np.hypot((back[0] - txy[:, 0]) * 96000.0, (back[1] - txy[:, 1]) * 111000.0)
    summary["gcj02_roundtrip_max_m"] = float(err.max())
    assert err.max() < 0.05
    return summary


def _check_hours(text: str) -> None:
    try:
        import opening_hours
    except ImportError:  # optional here: the loader validates with it
        return
    opening_hours.OpeningHours(text)


def _counts(values) -> dict:
    out: dict = defaultdict(int)
    for v in values:
        out[v] += 1
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Generate the synthetic demo city data pack.")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (data/demo)")
    out_dir = parser.parse_args(argv).out
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = make_plan(np.random.default_rng([SEED, 0]))
    words = iter(word_pool(np.random.default_rng([SEED, 1])))
    subdistricts, cells = build_grid(np.random.default_rng([SEED, 2]), plan, words)
    streets = build_streets(np.random.default_rng([SEED, 3]), plan, words)
    stations = build_stations(np.random.default_rng([SEED, 4]), plan, streets, subdistricts, cells)
    tips = build_tips(np.random.default_rng([SEED, 5]), plan, streets)
    write_pack(out_dir, subdistricts, cells, streets, stations, tips)
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
