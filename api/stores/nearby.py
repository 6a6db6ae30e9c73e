"""The SQL store's nearby-cases query: the open cases of one category around a point.

The database narrows the search to a box around the circle, through the index each backend keeps
for boxes (PostGIS: the GIST index on ``geom``, with ``&&``; SQLite: the ``(lat, lon)`` index),
and numpy measures the few candidates exactly, in metres in the city's metric CRS.
"""

from __future__ import annotations

import math

import numpy as np
import sqlalchemy as sa

from api.stores.contract import NearbyQuery, TipQuery
from geo import crs as gcrs

NEARBY_COLUMNS = ("tip_id", "reported_at", "category", "description", "street_name", "lon", "lat")
CLOSED_STATES = ("closed", "rejected")
# Metres per degree, rounded down so that the box always holds the whole circle: a degree of
# latitude is 110,574 m at the equator and longer towards the poles, a degree of longitude at
# least 111,319 m x cos(latitude) on the ellipsoid. Transverse Mercator (the metric CRS) only
# stretches distances, so a point within radius_m there is within radius_m on the ground too.
_M_PER_DEG_LAT = 110_000.0
_M_PER_DEG_LON = 111_000.0


def search_box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """A WGS84 box (minlon, minlat, maxlon, maxlat) that holds every point within ``radius_m``
    of ``lon``, ``lat``, clipped to the valid range."""
    dlat = radius_m / _M_PER_DEG_LAT * 1.01
    far = min(abs(lat) + dlat, 89.9)  # the box is widest at its edge nearer the pole
    dlon = radius_m / (_M_PER_DEG_LON * math.cos(math.radians(far))) * 1.01
    return (
        max(lon - dlon, -180.0),
        max(lat - dlat, -90.0),
        min(lon + dlon, 180.0),
        min(lat + dlat, 90.0),
    )


class NearbyCases:
    """Mixed into :class:`api.stores.sql.SQLStore`, which provides the tables, the box filter
    (``_where``) and the connections."""

    _tips: sa.Table
    _cases: sa.Table

    def nearby_cases(self, query: NearbyQuery) -> list[dict]:
        t, c = self._tips, self._cases
        box = search_box(query.lon, query.lat, query.radius_m)
        tips = TipQuery(bbox=box, categories=[query.category], since=query.since)
        where = self._where(tips)  # type: ignore[attr-defined]
        statement = (
            sa.select(*[t.c[n] for n in NEARBY_COLUMNS], c.c.state, c.c.confirmations)
            .select_from(t.join(c, c.c.tip_id == t.c.tip_id))
            .where(*where, c.c.state.not_in(CLOSED_STATES))
        )
        with self._reading() as conn:  # type: ignore[attr-defined]
            rows = [dict(r) for r in conn.execute(statement).mappings()]
        if not rows:
            return []
        lon = np.array([r["lon"] for r in rows], dtype=float)
        lat = np.array([r["lat"] for r in rows], dtype=float)
        x, y = gcrs.project(lon, lat, query.metric_crs)
        x0, y0 = gcrs.project(query.lon, query.lat, query.metric_crs)
        distance = np.hypot(np.asarray(x) - x0, np.asarray(y) - y0)
        # nearest first, ties by tip_id (numpy orders str by code point: UTF-8 byte order)
        order = np.lexsort((np.array([r["tip_id"] for r in rows]), distance))
        out = []
        for i in order[distance[order] <= query.radius_m][: int(query.limit)]:
            rows[i]["distance_m"] = float(distance[i])
            out.append(rows[i])
        return out
