"""The questions a courier asks of a city's stations: which are nearest to me, and which match
my filters. Both apply the one "open now" rule of :meth:`geo.nearest.StationIndex.open_now`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from geo import crs as gcrs
from geo.city import City, StationRecord
from geo.errors import InvalidInput, check_choice
from geo.hours import local_time
from geo.pack import STATION_STATUSES, StationStatus


@dataclass(frozen=True, slots=True)
class NearestStation:
    """One station found by :func:`nearest_stations`: its row, distance and open state, and its
    attributes (the city's record, shared, not copied)."""

    row: int
    distance_m: float
    open_now: bool
    station: StationRecord


def check_status(status: str | None) -> StationStatus | None:
    """A station status filter: one of ``open``, ``closed``, ``suspended``, or None for any."""
    return None if status is None else check_choice("status", status, STATION_STATUSES)


def nearest_stations(
    city: City,
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
    """The ``k`` nearest qualifying stations to one point, nearest first.

    Parameters
    ----------
    city : City
        The loaded city.
    lon, lat : float
        The point, in ``crs``.
    crs : str
        ``wgs84``, ``gcj02``, ``bd09`` or ``EPSG:<code>``.
    k : int
        How many stations.
    amenities : iterable of str, optional
        Required amenity codes (all of them).
    status : {"open", "closed", "suspended"} or None
        Required status, ``open`` by default; ``None`` for any.
    open_only : bool
        Only stations open now at ``at``: in service (status ``open``) and within their hours.
    at : datetime or ISO 8601 str, optional
        When to evaluate opening hours (naive = local time); now when not given.

    Returns
    -------
    list of NearestStation
        At most ``k``; fewer when fewer stations qualify. Equal distances go to the lower row.

    Raises
    ------
    InvalidInput
        For unusable coordinates, ``k``, an amenity code or a status, naming the value.
    UnknownCRS
        For an unknown ``crs``.
    """
    wlon, wlat = gcrs.to_wgs84(lon, lat, crs=crs)
    if not gcrs.valid_lonlat(wlon, wlat):
        raise InvalidInput(f"lon/lat ({lon!r}, {lat!r}) are not valid coordinates in {crs}")
    when = local_time(at)
    status = check_status(status)
    if open_only:  # the open-now rule: in service, and within the hours
        if status not in (None, "open"):
            return []
        status = "open"
    x, y = city.to_metric(wlon, wlat)
    index = city.station_index
    rows, dists = index.query_one(
        float(x),
        float(y),
        k=k,
        amenities=amenities,
        status=status,
        open_at=when if open_only else None,
    )
    records = city.station_records
    return [
        NearestStation(row, dist, index.open_now(row, when), records[row])
        for row, dist in zip(rows, dists, strict=True)
    ]


def select_stations(
    city: City,
    *,
    amenities: Iterable[str] | None = None,
    status: StationStatus | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    open_only: bool = False,
    at: dt.datetime | str | None = None,
) -> list[int]:
    """The rows of the stations that have every amenity, the status, lie in ``bbox``
    (``minlon, minlat, maxlon, maxlat``, WGS84, edges included) and, with ``open_only``, are
    open now at ``at`` (default now), in station order."""
    index = city.station_index
    codes = set(index.check_amenities(amenities))
    status = check_status(status)
    when = local_time(at)
    rows = []
    for record in city.station_records:
        row = record["row"]
        if status is not None and record["status"] != status:
            continue
        if codes and not codes <= set(record["amenities"]):
            continue
        if bbox is not None and not (
            bbox[0] <= record["lon"] <= bbox[2] and bbox[1] <= record["lat"] <= bbox[3]
        ):
            continue
        if open_only and not index.open_now(row, when):
            continue
        rows.append(row)
    return rows
