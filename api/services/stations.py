"""Station questions with the service's limits: the nearest stations and the filtered listing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from api.settings import Settings
from geo.city import City
from geo.errors import InvalidInput
from geo.pack import StationStatus
from geo.stations import NearestStation, nearest_stations, select_stations

__all__ = ["NearestStation", "nearest", "select_stations"]


def nearest(
    city: City,
    settings: Settings,
    lon: float,
    lat: float,
    *,
    crs: str = "wgs84",
    k: int = 3,
    amenities: Iterable[str] | None = None,
    status: StationStatus | None = "open",
    open_only: bool = False,
    at: dt.datetime | str | None = None,
) -> list[NearestStation]:
    """:func:`geo.stations.nearest_stations`, ``k`` at most ``YIZHAN_NEAREST_MAX_K``."""
    if k > settings.nearest_max_k:
        raise InvalidInput(f"k: {k} is more than {settings.nearest_max_k} (YIZHAN_NEAREST_MAX_K)")
    return nearest_stations(
        city,
        lon,
        lat,
        crs=crs,
        k=k,
        amenities=amenities,
        status=status,
        open_only=open_only,
        at=at,
    )
