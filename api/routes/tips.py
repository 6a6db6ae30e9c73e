"""Tip intake (durable, idempotent) and the public tip listing (no reporter identity)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CityDep, SettingsDep, StoreDep
from api.errors import NotFound, TooMany
from api.geojson import check_out_crs, parse_bbox, public_tip, tip_feature
from api.planning import parse_when
from api.stores import TipQuery
from geo import crs as gcrs
from geo.assign import assign_points
from geo.errors import InvalidInput, OutsideCity
from geo.hours import CITY_TZ

router = APIRouter(prefix="/api/tips", tags=["tips"])


class TipIn(BaseModel):
    """A hazard report as a phone sends it."""

    model_config = ConfigDict(extra="forbid")

    lon: float = Field(allow_inf_nan=False, description="Longitude in `crs`.")
    lat: float = Field(allow_inf_nan=False, description="Latitude in `crs`.")
    crs: str = Field(default="wgs84", description="wgs84, gcj02, bd09 or EPSG:<code>.")
    category: str = Field(min_length=1, max_length=16, description="Category code, e.g. 11.")
    description: str = Field(default="", description="Short description of the hazard.")
    reporter_id: str = Field(min_length=1, description="Pseudonymous reporter id; never shown.")


def _categories(city) -> dict[str, str]:
    return dict(zip(city.categories["code"], city.categories["name"], strict=True))


def _check(body: TipIn, settings, key: str | None) -> None:
    text = body.description.strip()
    if len(text) > settings.description_max_chars:
        raise InvalidInput(
            f"description: {len(text)} characters is longer than "
            f"{settings.description_max_chars} (YIZHAN_DESCRIPTION_MAX_CHARS)"
        )
    if len(body.reporter_id) > settings.reporter_id_max_chars:
        raise InvalidInput(f"reporter_id: longer than {settings.reporter_id_max_chars} characters")
    if key is not None and not (1 <= len(key) <= settings.idempotency_key_max_chars):
        raise InvalidInput(
            f"Idempotency-Key header must be 1 to {settings.idempotency_key_max_chars} characters"
        )


def _rate_limit(request: Request, settings) -> None:
    limiter = request.app.state.limiter
    if limiter is None:
        return
    client = request.client.host if request.client else "unknown"
    if not limiter.hit(client):
        raise TooMany(
            f"more than {settings.tip_rate_per_minute} tips a minute from this address "
            "(YIZHAN_TIP_RATE_PER_MINUTE); try again in a minute"
        )


@router.post("", status_code=201, summary="Report a hazard; returns the tip and its assignment")
def create_tip(
    body: TipIn,
    request: Request,
    city: CityDep,
    store: StoreDep,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None, Header(description="Retry with the same key: the tip is stored once.")
    ] = None,
):
    _check(body, settings, idempotency_key)
    categories = _categories(city)
    if body.category not in categories:
        raise InvalidInput(f"category: {body.category!r} is not one of {', '.join(categories)}")
    wlon, wlat = gcrs.to_wgs84(body.lon, body.lat, crs=body.crs)
    if not gcrs.valid_lonlat(wlon, wlat):
        raise InvalidInput(
            f"lon/lat: ({body.lon!r}, {body.lat!r}) are not valid coordinates in {body.crs}"
        )
    fingerprint = hashlib.sha256(
        json.dumps(body.model_dump(), sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    if idempotency_key is not None:
        replayed = store.replay(idempotency_key, fingerprint)
        if replayed is not None:
            return _created(replayed, categories, replayed=True)
    _rate_limit(request, settings)
    a = assign_points(city, [wlon], [wlat], workers=1).iloc[0]
    if a["outside_city"] and not a["street_distance_m"] <= settings.tip_max_outside_m:
        raise OutsideCity(
            f"lon/lat: ({body.lon!r}, {body.lat!r}) is {a['street_distance_m'] / 1000:.1f} km "
            f"from the city (YIZHAN_TIP_MAX_OUTSIDE_M={settings.tip_max_outside_m:g})"
        )
    now = dt.datetime.now(CITY_TZ).replace(microsecond=0)
    tip = {
        "tip_id": f"T{now:%Y%m%d}-{secrets.token_hex(4)}",
        "reported_at": now.isoformat(),
        "category": body.category,
        "description": body.description.strip(),
        "reporter_id": body.reporter_id,
        "status": "open",
        "lon": float(wlon),
        "lat": float(wlat),
        "grid_code": a["grid_code"],
        "subdistrict_code": a["subdistrict_code"],
        "street_name": a["street_name"],
        "street_distance_m": _num(a["street_distance_m"]),
        "nearest_station_id": a["nearest_station_id"],
        "station_distance_m": _num(a["station_distance_m"]),
        "outside_city": bool(a["outside_city"]),
    }
    stored, created = store.add_tip(tip, idempotency_key=idempotency_key, fingerprint=fingerprint)
    return _created(stored, categories, replayed=not created)


def _created(tip: dict, categories: dict[str, str], *, replayed: bool) -> JSONResponse:
    headers = {"Location": f"/api/tips/{tip['tip_id']}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(public_tip(tip, categories), status_code=201, headers=headers)


def _num(value) -> float | None:
    value = float(value)
    return None if value != value else value


@router.get("", summary="Tips as GeoJSON, filtered and paged; never the reporter")
def list_tips(
    request: Request,
    city: CityDep,
    store: StoreDep,
    settings: SettingsDep,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS84).")] = None,
    category: Annotated[list[str] | None, Query(description="Category code; repeatable.")] = None,
    since: Annotated[str | None, Query(description="Reported at or after (local time).")] = None,
    until: Annotated[str | None, Query(description="Reported before (local time).")] = None,
    grid_code: Annotated[str | None, Query(max_length=32)] = None,
    subdistrict_code: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int | None, Query(ge=1, description="Tips per page.")] = None,
    offset: Annotated[int, Query(ge=0, le=2**53, description="Tips to skip.")] = 0,
    out_crs: Annotated[str, Query(description="wgs84, gcj02 or bd09.")] = "wgs84",
) -> dict:
    limit = limit or settings.tips_page_default
    if limit > settings.tips_page_max:
        raise InvalidInput(f"limit: at most {settings.tips_page_max} (YIZHAN_TIPS_PAGE_MAX)")
    out_crs = check_out_crs(out_crs)
    query = TipQuery(
        bbox=parse_bbox(bbox),
        categories=list(category or []),
        since=parse_when(since, "since"),
        until=parse_when(until, "until"),
        grid_code=grid_code,
        subdistrict_code=subdistrict_code,
        status=status,
        limit=limit,
        offset=offset,
    )
    tips, total = store.list_tips(query)
    categories = _categories(city)
    out = {
        "type": "FeatureCollection",
        "numberMatched": total,
        "numberReturned": len(tips),
        "features": [tip_feature(t, categories, out_crs=out_crs) for t in tips],
        "links": [],
    }
    if offset + len(tips) < total:
        params = dict(request.query_params)
        params.update(offset=str(offset + len(tips)), limit=str(limit))
        out["links"].append(
            {"rel": "next", "href": str(request.url.replace_query_params(**params))}
        )
    return out


@router.get("/{tip_id}", summary="One tip (public view)")
def get_tip(tip_id: str, city: CityDep, store: StoreDep) -> dict:
    tip = store.get_tip(tip_id)
    if tip is None:
        raise NotFound(f"tip_id {tip_id!r} does not exist")
    return tip_feature(tip, _categories(city))
