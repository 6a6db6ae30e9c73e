"""Navigation links to a station, for pages and API answers alike."""

from __future__ import annotations

from urllib.parse import quote

AMAP_NAV = (
    "https://uri.amap.com/navigation?to={lon:.6f},{lat:.6f},{name}"
    "&mode=ride&policy=1&src=yizhan&coordinate=gaode&callnative=1"
)


def amap_nav_url(name: str, lon_gcj: float, lat_gcj: float) -> str:
    """An Amap riding-navigation link to a GCJ-02 point (Amap takes GCJ-02 only)."""
    return AMAP_NAV.format(lon=lon_gcj, lat=lat_gcj, name=quote(name, safe=""))
