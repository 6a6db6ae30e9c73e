"""How the map pages put their data on the page: compact, script-safe JSON of integers.

Polygons are integers (1e-5 degree, about 1 m): a ring's first vertex relative to the city's
south-west corner, then differences. Measured on the demo city (2,658 cells), the coverage page
is 0.4 MB this way and 1.7 MB as Folium ``GeoJson`` with ``GeoJsonTooltip``.

The heatmap ships one table, not one layer per month: every position once (the same integers),
and the tip count per (position, month, category) as either a dense array (position-major) or
runs of (key, count) per position, whichever is shorter. For 1,000,000 tips aggregated to 2,658
cells x 6 months x 9 categories the page is about 0.4 MB; Folium's ``HeatMap`` of the same tips
as points is about 41 MB. ``static/planning.js`` decodes both.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import shapely

SCALE = 100_000  # positions and vertices as integers of 1e-5 degree (about 1 m)


def script_json(value) -> str:
    """Compact JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        text = text.replace(char, code)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _json_len(values: np.ndarray) -> int:
    """Characters of a JSON array of non-negative integers."""
    digits = np.floor(np.log10(np.maximum(values, 1))).astype(np.int64) + 1
    return int(digits.sum()) + max(len(values) - 1, 0) + 2


def encode_polygons(geoms, origin: tuple[int, int]) -> list[list[list[int]]]:
    """Per geometry (Polygon or MultiPolygon): polygons, each a list of rings, each a flat list
    ``[x, y, dx, dy, ...]`` of 1e-5 degree integers, the first pair relative to ``origin``, the
    rest differences; the closing vertex is left out (Leaflet closes rings)."""
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0:
        return []
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    xy, vertex_of = shapely.get_coordinates(rings, return_index=True)
    q = np.round(xy * SCALE).astype(np.int64) - np.asarray(origin, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(vertex_of)) + 1]
    delta = q.copy()
    delta[1:] -= q[:-1]
    delta[starts] = q[starts]
    ends = np.r_[starts[1:], len(q)]
    out: list[list[list[int]]] = [[] for _ in range(len(geoms))]
    last_part = -1
    for a, b in zip(starts, ends, strict=True):
        part = ring_of[vertex_of[a]]
        if part != last_part:
            out[part_of[part]].append([])
            last_part = part
        out[part_of[part]][-1].append(delta[a : b - 1].ravel().tolist())
    return out


def heat_table(weights: pd.DataFrame, categories: pd.DataFrame) -> dict:
    """The heatmap's data: unique positions once, counts per (position, month, category).

    ``weights`` has ``lon``, ``lat``, ``month`` (YYYY-MM), ``category`` and ``count`` (from
    ``api.services.planning.heat_weights``). Keys are ``month index * len(cats) + category
    index``. ``dense`` pages hold ``n`` = one count per position and key; sparse pages hold per
    position ``r`` (how many keys), then ``k``/``n`` (key, count) pairs.
    """
    table = categories[["code", "name"]].astype(str)
    names = dict(zip(table["code"], table["name"], strict=True))
    w = weights[["lon", "lat", "month", "category", "count"]].copy()
    w["count"] = pd.to_numeric(w["count"], errors="coerce").fillna(0).astype(np.int64)
    w = w[np.isfinite(w["lon"].astype(float)) & np.isfinite(w["lat"].astype(float))]
    w = w[w["count"] > 0]
    month_of, months = pd.factorize(w["month"].astype(str), sort=True)
    months = [str(m) for m in months]
    cat_of, codes = pd.factorize(w["category"].astype(str))
    cats = list(table["code"]) + sorted({str(c) for c in codes} - set(table["code"]))
    x = np.round(w["lon"].to_numpy(float) * SCALE).astype(np.int64)
    y = np.round(w["lat"].to_numpy(float) * SCALE).astype(np.int64)
    x0 = int(x.min()) if len(x) else 0
    y0 = int(y.min()) if len(y) else 0
    stride = int(y.max()) - y0 + 1 if len(y) else 1
    uniq, pos = np.unique((x - x0) * stride + (y - y0), return_inverse=True)
    month_idx = month_of
    cat_idx = pd.Index(cats).get_indexer(codes)[cat_of]
    nkeys = max(len(months) * len(cats), 1)
    key = pos * nkeys + month_idx * len(cats) + cat_idx
    counts = np.bincount(key, weights=w["count"].to_numpy(), minlength=len(uniq) * nkeys)
    counts = np.round(counts).astype(np.int64)
    data = {
        "scale": SCALE,
        "x0": x0,
        "y0": y0,
        "x": (uniq // stride).tolist(),
        "y": (uniq % stride).tolist(),
        "months": months,
        "cats": cats,
        "cat_names": [names.get(c, c) for c in cats],
        "total": int(counts.sum()),
    }
    nonzero = np.flatnonzero(counts)
    runs = np.bincount(nonzero // nkeys, minlength=len(uniq))
    keys = nonzero % nkeys
    if _json_len(counts) <= _json_len(runs) + _json_len(keys) + _json_len(counts[nonzero]):
        data.update(dense=True, n=counts.tolist())
    else:
        data.update(dense=False, r=runs.tolist(), k=keys.tolist(), n=counts[nonzero].tolist())
    return data
