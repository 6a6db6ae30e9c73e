"""Tip intake (durable, idempotent, rate limited) and the public tip listing (no reporter)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CityDep, SettingsDep, StoreDep
from api.errors import error_responses
from api.geojson import check_out_crs, parse_bbox, public_tip, tip_feature
from api.routes import next_links
from api.services.cases import (
    FIXED,
    STATE_NAMES,
    confirm,
    feedback,
    public_notes,
    receipt_for,
)
from api.services.intake import TipSubmission, submit_tip
from api.services.nearby import DEFAULT_DAYS, DEFAULT_RADIUS_M, nearby_cases
from api.services.planning import categories_of, parse_when
from api.stores import TipQuery
from geo.errors import InvalidInput, NotFound

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


@router.post(
    "",
    status_code=201,
    summary="Report a hazard; returns the tip and its assignment",
    responses=error_responses(400, 409, 413, 422, 429),
)
def create_tip(
    body: TipIn,
    request: Request,
    city: CityDep,
    store: StoreDep,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None, Header(description="Retry with the same key: the tip is stored once.")
    ] = None,
) -> JSONResponse:
    intake = submit_tip(
        city,
        store,
        settings,
        TipSubmission(**body.model_dump()),
        idempotency_key=idempotency_key,
        address=request.client.host if request.client else "unknown",
        limiter=request.app.state.limiter,
    )
    tip = intake.tip
    headers = {"Location": f"/api/tips/{tip['tip_id']}", "Cache-Control": "no-store"}
    if not intake.created:
        headers["Idempotent-Replayed"] = "true"
    answer = public_tip(tip, _categories(city))
    answer["state"] = "reported"
    # shown to this reporter only (a replay of the same request shows it again): with it the
    # phone follows its tip and answers 问题解决了吗 once it is closed
    answer["receipt"] = receipt_for(store, tip["tip_id"])
    return JSONResponse(answer, status_code=201, headers=headers)


@router.get(
    "",
    summary="Tips as GeoJSON, filtered and paged; never the reporter",
    responses=error_responses(422),
)
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
        categories=list(categories_of(category, city)),
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
    out: dict[str, Any] = {
        "type": "FeatureCollection",
        "numberMatched": total,
        "numberReturned": len(tips),
        "features": [tip_feature(t, categories, out_crs=out_crs) for t in tips],
        "links": next_links(request, offset=offset, returned=len(tips), total=total, limit=limit),
    }
    return out


class NearbyCase(BaseModel):
    """An open case near the position asked about, as anyone may see it."""

    tip_id: str
    category: str
    category_name: str
    reported_at: str = Field(description="ISO 8601, city time.")
    state: str
    state_name: str = Field(description="The state in Chinese, e.g. 已派遣.")
    distance_m: int = Field(description="From the position asked about, to the metre.")
    confirmations: int = Field(description="How many other reporters said 'me too'.")
    street_name: str | None
    description: str


class NearbyOut(BaseModel):
    """The open cases near a position, nearest first."""

    radius_m: float
    days: int
    cases: list[NearbyCase]


# declared before /{tip_id}, which would take "nearby" for an id
@router.get(
    "/nearby",
    summary="Open cases of a category near a position, before a report: say 'me too' instead",
    responses=error_responses(422),
)
def get_nearby(
    city: CityDep,
    store: StoreDep,
    settings: SettingsDep,
    lon: Annotated[float, Query(allow_inf_nan=False, description="Longitude in `crs`.")],
    lat: Annotated[float, Query(allow_inf_nan=False, description="Latitude in `crs`.")],
    category: Annotated[str, Query(max_length=16, description="Category code, e.g. 11.")],
    crs: Annotated[str, Query(description="wgs84, gcj02, bd09 or EPSG:<code>.")] = "wgs84",
    radius_m: Annotated[
        float,
        Query(
            gt=0,
            allow_inf_nan=False,
            description="Metres around the position (at most YIZHAN_NEARBY_MAX_RADIUS_M).",
        ),
    ] = DEFAULT_RADIUS_M,
    days: Annotated[
        int,
        Query(ge=1, description="Reported in the last days (at most YIZHAN_NEARBY_MAX_DAYS)."),
    ] = DEFAULT_DAYS,
) -> NearbyOut:
    found = nearby_cases(
        city, store, settings, lon, lat, category=category, crs=crs, radius_m=radius_m, days=days
    )
    return NearbyOut(radius_m=radius_m, days=days, cases=[NearbyCase(**c) for c in found])


@router.get(
    "/{tip_id}",
    summary="One tip (public view): its case's state and public notes",
    responses=error_responses(404),
)
def get_tip(tip_id: str, city: CityDep, store: StoreDep) -> dict:
    tip = store.get_tip(tip_id)
    case = store.get_case(tip_id)
    if tip is None or case is None:
        raise NotFound(f"tip_id {tip_id!r} does not exist")
    feature = tip_feature(tip, _categories(city))
    feature["properties"].update(
        state=case["state"],
        state_name=STATE_NAMES[case["state"]],
        confirmations=case["confirmations"],
        notes=public_notes(store.case_history(tip_id)),
    )
    return feature


class FeedbackIn(BaseModel):
    """A reporter's answer to 问题解决了吗, with the receipt of the tip."""

    model_config = ConfigDict(extra="forbid")

    receipt: str = Field(default="", max_length=64, description="The tip's receipt (201).")
    fixed: str = Field(description="yes, no or unknown.", json_schema_extra={"enum": list(FIXED)})


@router.post(
    "/{tip_id}/feedback",
    summary="The reporter says whether a closed tip was fixed; 'no' reopens it",
    responses=error_responses(400, 403, 404, 409, 413, 422),
)
def post_feedback(
    tip_id: str, body: FeedbackIn, city: CityDep, store: StoreDep, settings: SettingsDep
) -> dict:
    case = feedback(city, store, settings, tip_id, receipt=body.receipt, fixed=body.fixed)
    return {"tip_id": tip_id, "state": case["state"], "satisfaction": case["satisfaction"]}


class ConfirmIn(BaseModel):
    """A reporter's "me too" (我也遇到) on an open case."""

    model_config = ConfigDict(extra="forbid")

    reporter_id: str = Field(min_length=1, description="Pseudonymous reporter id; never shown.")


class ConfirmOut(BaseModel):
    """The case's count of "me too" after this one."""

    tip_id: str
    state: str
    confirmations: int = Field(description="How many other reporters said 'me too'.")
    counted: bool = Field(
        description="False when this reporter confirmed the case before, or reported it: the "
        "count is unchanged."
    )


@router.post(
    "/{tip_id}/confirm",
    summary="'Me too' on an open case, counted once per reporter",
    description="A repeat by the same reporter (or by the tip's own reporter) answers 200 with "
    "`counted: false` and the count unchanged; a closed or rejected case answers 409. Rate "
    "limited with the tips (429).",
    responses=error_responses(400, 404, 409, 413, 422, 429),
)
def post_confirm(
    tip_id: str, body: ConfirmIn, request: Request, store: StoreDep, settings: SettingsDep
) -> ConfirmOut:
    answer = confirm(
        store,
        settings,
        tip_id,
        reporter_id=body.reporter_id,
        address=request.client.host if request.client else "unknown",
        limiter=request.app.state.limiter,
    )
    return ConfirmOut(**answer)
