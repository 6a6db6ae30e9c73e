"""Checking the pack: re-read the written files and assert what the demo city promises.

A failed check raises ``AssertionError``. Checked: codes and counts; valid, counter-clockwise
polygons; grid cells noded exactly on the lattice, tiling the city without overlap and each inside
its own subdistrict; streets noded at every crossing, one connected network inside the city,
crossing the river only on the bridges; stations inside the city, off the river and spaced apart;
tips in time order, near the streets, a few just outside; the GCJ-02 copy converting back to
the tips; and a unit for every category in every subdistrict. Returns the figures that the
command line prints.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from data.generator.frames import (
    METRIC_CRS,
    SCALE,
    X0,
    Y0,
    int_coords,
    local_from_lattice,
    to_local,
)
from data.generator.plan import RIVER_NAME, Plan
from data.generator.stations import AMENITIES, N_STATIONS
from data.generator.tips import CATEGORIES, N_TIPS, N_TIPS_OUTSIDE, TZ
from data.generator.topology import components, ring_keys, xor_keys
from geo.crs import project, to_wgs84
from geo.pack.tables import parse_codes
from geo.units import route_unit


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
    per_comm: defaultdict[str, int] = defaultdict(int)
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

    with (out / "tips_as_received_gcj02.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["tip_id"] for r in rows] == [f["properties"]["tip_id"] for f in tips]
    back = to_wgs84(
        np.array([float(r["lon"]) for r in rows]),
        np.array([float(r["lat"]) for r in rows]),
        crs="gcj02",
    )
    err = np.hypot((back[0] - txy[:, 0]) * 96000.0, (back[1] - txy[:, 1]) * 111000.0)
    summary["gcj02_roundtrip_max_m"] = float(err.max())
    assert err.max() < 0.05

    with (out / "units.csv").open(encoding="utf-8", newline="") as fh:
        units = pd.DataFrame(list(csv.DictReader(fh)))
    for column in ("categories", "subdistricts"):
        units[column] = [parse_codes(v) for v in units[column]]
    unserved = [
        (category, code)
        for category in CATEGORIES
        for code in codes
        if route_unit(units, category=category, subdistrict_code=code) is None
    ]
    assert unserved == [], f"no unit for (category, subdistrict) {unserved}"
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
