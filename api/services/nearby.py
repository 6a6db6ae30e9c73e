"""Open cases near a position, asked by the phone before it sends a report: if the hazard is
reported already, the rider can say "me too" (:func:`api.services.cases.confirm`) instead of
reporting it again."""

from __future__ import annotations

import datetime as dt

from api.services.cases import STATE_NAMES
from api.settings import Settings
from api.stores import NearbyQuery, Store
from geo import crs as gcrs
from geo.city import City
from geo.errors import InvalidInput
from geo.hours import CITY_TZ

DEFAULT_RADIUS_M = 200.0
DEFAULT_DAYS = 7
# what anyone may see of a nearby case, in this order; never the reporter
PUBLIC_FIELDS = (
    "tip_id",
    "category",
    "category_name",
    "reported_at",
    "state",
    "state_name",
    "distance_m",
    "confirmations",
    "street_name",
    "description",
)


def nearby_cases(
    city: City,
    store: Store,
    settings: Settings,
    lon: float,
    lat: float,
    *,
    category: str,
    crs: str = "wgs84",
    radius_m: float = DEFAULT_RADIUS_M,
    days: int = DEFAULT_DAYS,
    now: dt.datetime | None = None,
) -> list[dict]:
    """The open cases of ``category`` within ``radius_m`` of the position (in ``crs``) reported
    in the last ``days`` days, nearest first, at most ``YIZHAN_NEARBY_MAX_CASES``; each in its
    public view with ``distance_m`` rounded to the metre.

    Raises
    ------
    InvalidInput, UnknownCRS
        A bad field, named with its value (a radius or a period beyond its setting too).
    """
    codes = city.categories["code"].tolist()
    if category not in codes:
        raise InvalidInput(f"category: {category!r} is not one of {', '.join(codes)}")
    if not radius_m > 0:
        raise InvalidInput(f"radius_m: must be more than 0, got {radius_m!r}")
    if radius_m > settings.nearby_max_radius_m:
        raise InvalidInput(
            f"radius_m: {radius_m:g} is more than {settings.nearby_max_radius_m:g} "
            "(YIZHAN_NEARBY_MAX_RADIUS_M)"
        )
    if days < 1:
        raise InvalidInput(f"days: must be at least 1, got {days!r}")
    if days > settings.nearby_max_days:
        raise InvalidInput(
            f"days: {days} is more than {settings.nearby_max_days} (YIZHAN_NEARBY_MAX_DAYS)"
        )
    wlon, wlat = gcrs.to_wgs84(float(lon), float(lat), crs=crs)
    if not gcrs.valid_lonlat(wlon, wlat):
        raise InvalidInput(f"lon/lat: ({lon!r}, {lat!r}) are not valid coordinates in {crs}")
    now = (now or dt.datetime.now(CITY_TZ)).astimezone(CITY_TZ)
    found = store.nearby_cases(
        NearbyQuery(
            lon=float(wlon),
            lat=float(wlat),
            radius_m=float(radius_m),
            metric_crs=city.metric_crs,
            category=category,
            since=now - dt.timedelta(days=days),
            limit=settings.nearby_max_cases,
        )
    )
    names = dict(zip(city.categories["code"], city.categories["name"], strict=True))
    out = []
    for case in found:
        view = {
            **case,
            "category_name": names.get(case["category"], ""),
            "state_name": STATE_NAMES.get(case["state"], case["state"]),
            "distance_m": round(case["distance_m"]),
        }
        out.append({k: view[k] for k in PUBLIC_FIELDS})
    return out
