"""Tip intake, written once for every way a tip arrives: the phone's POST, the tips of a data
pack and a bulk import of cases (:mod:`api.services.imports`; later an Open311 request), all
stored through the same store paths.

A tip is checked (category, text lengths, coordinates), replayed when its idempotency key was
seen with the same body, rate limited per reporter and per client address, assigned to its grid
cell, subdistrict, street and station, refused when it lies far outside the city, and committed
to the store before :func:`submit_tip` returns.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from api.services.cases import check_reporter_id, new_case
from api.settings import Settings
from api.stores import TIP_COLUMNS, Store
from geo import crs as gcrs
from geo.assign import assign_points
from geo.city import City
from geo.errors import InvalidInput, OutsideCity, TooMany
from geo.hours import CITY_TZ


@dataclass(frozen=True)
class TipSubmission:
    """A hazard report as a reporter sends it (position in ``crs``)."""

    lon: float
    lat: float
    category: str
    reporter_id: str
    crs: str = "wgs84"
    description: str = ""

    def fingerprint(self) -> str:
        """What makes two submissions "the same tip" for an idempotent retry."""
        body = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Intake:
    """A stored tip and whether this call stored it (``False``: an idempotent replay)."""

    tip: dict[str, Any]
    created: bool


class IntakeLimiter:
    """Moving one-minute windows per reporter and per client address (in this process).

    Riders behind one carrier-grade NAT share an address, so the address limit is high and the
    reporter limit does the fine work; ``0`` turns a limit off."""

    def __init__(self, *, per_reporter: int, per_address: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._reporter = RateLimitItemPerMinute(per_reporter) if per_reporter else None
        self._address = RateLimitItemPerMinute(per_address) if per_address else None

    @classmethod
    def from_settings(cls, settings: Settings) -> IntakeLimiter:
        return cls(
            per_reporter=settings.tip_rate_per_reporter_per_minute,
            per_address=settings.tip_rate_per_address_per_minute,
        )

    def hit(self, *, reporter_id: str, address: str) -> None:
        """Count one tip, or raise :class:`TooMany` saying when to retry (nothing counted)."""
        checks = (
            (self._address, "address", address, "this address", "ADDRESS"),
            (self._reporter, "reporter", reporter_id, "this reporter", "REPORTER"),
        )
        for item, kind, key, who, setting in checks:
            if item is not None and not self._limiter.test(item, kind, key):
                reset, _ = self._limiter.get_window_stats(item, kind, key)
                wait = max(math.ceil(reset - time.time()), 1)
                raise TooMany(
                    f"more than {item.amount} tips a minute from {who} "
                    f"(YIZHAN_TIP_RATE_PER_{setting}_PER_MINUTE); retry in {wait} s",
                    retry_after_s=wait,
                )
        for item, kind, key, *_ in checks:
            if item is not None:
                self._limiter.hit(item, kind, key)


def check_submission(
    city: City, settings: Settings, submission: TipSubmission, idempotency_key: str | None
) -> tuple[float, float]:
    """The submission's WGS84 position, or :class:`InvalidInput` naming the bad field."""
    text = submission.description.strip()
    if len(text) > settings.description_max_chars:
        raise InvalidInput(
            f"description: {len(text)} characters is longer than "
            f"{settings.description_max_chars} (YIZHAN_DESCRIPTION_MAX_CHARS)"
        )
    check_reporter_id(settings, submission.reporter_id)
    if idempotency_key is not None and not (
        1 <= len(idempotency_key) <= settings.idempotency_key_max_chars
    ):
        raise InvalidInput(
            f"Idempotency-Key header must be 1 to {settings.idempotency_key_max_chars} "
            "characters (YIZHAN_IDEMPOTENCY_KEY_MAX_CHARS)"
        )
    codes = city.categories["code"].tolist()
    if submission.category not in codes:
        raise InvalidInput(f"category: {submission.category!r} is not one of {', '.join(codes)}")
    wlon, wlat = gcrs.to_wgs84(float(submission.lon), float(submission.lat), crs=submission.crs)
    if not gcrs.valid_lonlat(wlon, wlat):
        raise InvalidInput(
            f"lon/lat: ({submission.lon!r}, {submission.lat!r}) are not valid coordinates "
            f"in {submission.crs}"
        )
    return float(wlon), float(wlat)


def submit_tip(
    city: City,
    store: Store,
    settings: Settings,
    submission: TipSubmission,
    *,
    idempotency_key: str | None = None,
    address: str = "unknown",
    limiter: IntakeLimiter | None = None,
    now: dt.datetime | None = None,
) -> Intake:
    """Check, assign and store one tip; durable when this returns.

    Raises
    ------
    InvalidInput, UnknownCRS
        A field that cannot be used, named with its value.
    OutsideCity
        A position further than ``YIZHAN_TIP_MAX_OUTSIDE_M`` from every street.
    TooMany
        Over a rate limit, with the seconds to wait.
    Conflict
        An idempotency key already used for another tip.
    """
    wlon, wlat = check_submission(city, settings, submission, idempotency_key)
    fingerprint = submission.fingerprint()
    if idempotency_key is not None:
        replayed = store.replay(idempotency_key, fingerprint)
        if replayed is not None:
            return Intake(replayed, created=False)
    if limiter is not None:
        limiter.hit(reporter_id=submission.reporter_id, address=address)
    assigned = assign_points(city, [wlon], [wlat], workers=1)
    a = assigned.iloc[0]
    if too_far(assigned, settings)[0]:
        raise OutsideCity(
            f"lon/lat: ({submission.lon!r}, {submission.lat!r}) is "
            f"{a['street_distance_m'] / 1000:.1f} km from the city "
            f"(YIZHAN_TIP_MAX_OUTSIDE_M={settings.tip_max_outside_m:g})"
        )
    at = (now or dt.datetime.now(CITY_TZ)).astimezone(CITY_TZ).replace(microsecond=0)
    tip = {
        "tip_id": new_tip_id(at),
        "reported_at": at.isoformat(),
        "category": submission.category,
        "description": submission.description.strip(),
        "reporter_id": submission.reporter_id,
        "status": "open",
        "lon": wlon,
        "lat": wlat,
        "grid_code": a["grid_code"],
        "subdistrict_code": a["subdistrict_code"],
        "street_name": a["street_name"],
        "street_distance_m": _number(a["street_distance_m"]),
        "nearest_station_id": a["nearest_station_id"],
        "station_distance_m": _number(a["station_distance_m"]),
        "outside_city": bool(a["outside_city"]),
    }
    stored, created = store.add_tip(
        tip,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        case=new_case(city, settings, tip),
    )
    return Intake(stored, created)


def new_tip_id(at: dt.datetime) -> str:
    """``T<local date>-<12 random hex digits>``: 48 random bits a day, so that even 100,000
    tips a day meet a repeated id about once in 150 years."""
    return f"T{at:%Y%m%d}-{secrets.token_hex(6)}"


def too_far(assigned: pd.DataFrame, settings: Settings) -> npt.NDArray[np.bool_]:
    """Which assigned points lie outside every grid cell and further than
    ``YIZHAN_TIP_MAX_OUTSIDE_M`` from every street: not in this city (refused)."""
    outside = assigned["outside_city"].fillna(False).to_numpy(dtype=bool)
    near = assigned["street_distance_m"].to_numpy(dtype=float) <= settings.tip_max_outside_m
    return outside & ~near


def tip_records(
    table: pd.DataFrame,
    assigned: pd.DataFrame,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
) -> list[dict[str, Any]]:
    """Tips as the store takes them in bulk (:meth:`Store.import_tips`): the tip columns of
    ``table`` (``reported_at`` as ISO 8601 text) with the assignment of their WGS84 ``lon``,
    ``lat`` (:func:`geo.assign.assign_points`, row for row), None for what is missing."""
    table = table.reset_index(drop=True)
    table = table.drop(columns=[c for c in assigned.columns if c in table.columns])
    table = pd.concat([table, assigned.reset_index(drop=True)], axis=1)
    table["lon"], table["lat"] = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    table["outside_city"] = table["outside_city"].fillna(False).astype(bool)
    records = table[list(TIP_COLUMNS)].astype(object).where(table.notna(), None)
    return records.to_dict(orient="records")


def import_pack_tips(city: City, store: Store) -> int:
    """Assign the data pack's tips and store those whose ``tip_id`` is not stored yet (one
    transaction); return how many were added. The same store path as live tips."""
    tips = city.pack.tips
    if tips is None or len(tips) == 0:
        return 0
    lon, lat = tips.geometry.x.to_numpy(), tips.geometry.y.to_numpy()
    table = pd.DataFrame(tips.drop(columns=tips.geometry.name))
    table = table.assign(
        reported_at=table["reported_at"].map(lambda t: t.isoformat()),
        status=table["status"].replace("", "open"),
    )
    return store.import_tips(tip_records(table, assign_points(city, lon, lat), lon, lat))


def _number(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value
