"""The case loop for staff (bearer tokens): cases, their actions, the units, imports."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CityDep, SettingsDep, StoreDep
from api.errors import error_responses
from api.routes import next_links
from api.services import cases as case_service
from api.services.cases import ACTIONS, STATES, URGENCIES, ActionRequest
from api.services.imports import Format, import_cases, read_cases
from api.services.planning import categories_of, parse_when
from api.services.staff import ROLE_NAMES, Staff, authenticate, require
from api.stores import CaseQuery
from geo.errors import InvalidInput
from geo.hours import CITY_TZ


async def get_staff(
    request: Request,
    authorization: Annotated[
        str | None, Header(description="`Bearer <token>` of a staff account.")
    ] = None,
) -> Staff:
    return authenticate(request.app.state.store, authorization)


StaffDep = Annotated[Staff, Depends(get_staff)]
STAFF_ERRORS = (401, 403)

router = APIRouter(prefix="/api", tags=["cases (staff)"])


class ActionIn(BaseModel):
    """One action on a case."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(
        description="register, reject, dispatch, return, handle, verify, rework, suspend or "
        "resume.",
        json_schema_extra={"enum": list(ACTIONS)},
    )
    note: str = Field(
        default="",
        description="Why (needed by reject, return, handle, rework, suspend); staff only.",
    )
    public_note: str = Field(default="", description="A note the reporter and the public see.")
    unit_id: str | None = Field(
        default=None, description="dispatch: the unit (default: the suggested one)."
    )
    duplicate_of: str | None = Field(
        default=None, description="reject: the open case this one repeats."
    )
    urgency: str | None = Field(
        default=None,
        description="register or dispatch: normal or urgent.",
        json_schema_extra={"enum": list(URGENCIES)},
    )


@router.post(
    "/cases/{tip_id}/actions",
    summary="Act on a case (register, dispatch, handle, verify, ...)",
    responses=error_responses(400, *STAFF_ERRORS, 404, 409, 413, 422),
)
def act_on_case(
    tip_id: str,
    body: ActionIn,
    staff: StaffDep,
    city: CityDep,
    store: StoreDep,
    settings: SettingsDep,
) -> dict:
    return case_service.act(
        city, store, settings, staff, tip_id, ActionRequest(**body.model_dump())
    )


@router.get(
    "/cases/{tip_id}",
    summary="One case with its history",
    responses=error_responses(*STAFF_ERRORS, 404),
)
def get_case(tip_id: str, staff: StaffDep, store: StoreDep) -> dict:
    return case_service.get_case(store, staff, tip_id)


@router.get(
    "/cases",
    summary="The case queue: soonest deadline (so overdue) first, filtered and paged",
    responses=error_responses(*STAFF_ERRORS, 422),
)
def list_cases(
    request: Request,
    staff: StaffDep,
    city: CityDep,
    store: StoreDep,
    settings: SettingsDep,
    state: Annotated[
        list[str] | None,
        Query(
            description="State; repeatable.", json_schema_extra={"items": {"enum": list(STATES)}}
        ),
    ] = None,
    subdistrict_code: Annotated[str | None, Query(max_length=32)] = None,
    unit_id: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[list[str] | None, Query(description="Category code; repeatable.")] = None,
    source: Annotated[str | None, Query(max_length=32)] = None,
    overdue: Annotated[bool | None, Query(description="Only overdue (true) or on time.")] = None,
    since: Annotated[str | None, Query(description="Reported at or after (local time).")] = None,
    until: Annotated[str | None, Query(description="Reported before (local time).")] = None,
    limit: Annotated[int, Query(ge=1, description="Cases per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=2**53)] = 0,
) -> dict:
    if limit > settings.cases_page_max:
        raise InvalidInput(f"limit: at most {settings.cases_page_max} (YIZHAN_CASES_PAGE_MAX)")
    states = tuple(state or ())
    for s in states:
        if s not in STATES:
            raise InvalidInput(f"state: {s!r} is not one of {', '.join(STATES)}")
    now = dt.datetime.now(CITY_TZ)
    subdistricts, unit_id = staff.narrow(subdistrict_code=subdistrict_code, unit_id=unit_id)
    query = CaseQuery(
        now=now,
        states=states,
        subdistricts=subdistricts,
        unit_id=unit_id,
        categories=categories_of(category, city),
        source=source,
        overdue=overdue,
        since=parse_when(since, "since"),
        until=parse_when(until, "until"),
        limit=limit,
        offset=offset,
    )
    rows, total = store.list_cases(query)
    out: dict[str, Any] = {
        "cases": [
            _without_history(case_service.staff_view(r, [], now=now, staff=staff)) for r in rows
        ],
        "numberMatched": total,
        "numberReturned": len(rows),
        "links": next_links(request, offset=offset, returned=len(rows), total=total, limit=limit),
    }
    return out


@router.get(
    "/staff/me",
    summary="The signed-in account: role, unit, subdistricts (never its token)",
    responses=error_responses(*STAFF_ERRORS),
)
def staff_me(staff: StaffDep) -> dict:
    return {
        "staff_id": staff.staff_id,
        "name": staff.name,
        "role": staff.role,
        "role_name": ROLE_NAMES[staff.role],
        "unit_id": staff.unit_id,
        "subdistricts": list(staff.subdistricts),
    }


def _without_history(case: dict) -> dict:
    return {k: v for k, v in case.items() if k != "history"}


@router.get(
    "/units",
    summary="The units (处置单位) and what each serves",
    responses=error_responses(*STAFF_ERRORS),
)
def list_units(staff: StaffDep, city: CityDep) -> list[dict]:
    out = []
    for row in city.units.itertuples(index=False):
        out.append(
            {
                "unit_id": row.unit_id,
                "name": row.name,
                "categories": list(row.categories),
                "subdistricts": list(row.subdistricts),
            }
        )
    return out


# what the import reads, by the body's Content-Type
IMPORT_TYPES: dict[str, Format] = {
    "application/geo+json": "geojson",
    "application/json": "geojson",
    "text/csv": "csv",
}
_FEATURE_COLLECTION = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {
            "type": "array",
            "items": {
                "type": "object",
                "description": "A Point Feature whose properties are external_id, source, "
                "reported_at, category and description.",
            },
        },
    },
}


async def _raw_body(request: Request) -> bytes:
    return await request.body()  # refused with 413 past YIZHAN_MAX_BODY_BYTES


class ImportOut(BaseModel):
    """What an import did."""

    rows: int = Field(description="Rows (CSV) or features (GeoJSON) read.")
    added: int = Field(description="Cases added.")
    existing: int = Field(description="Rows whose case was imported before (left as it is).")


@router.post(
    "/cases/import",
    summary="Import cases from another system (12345, grid workers): CSV or GeoJSON",
    description="A file imported again adds only what is new (a case's id comes from its "
    "source and external_id). A bad row refuses the whole file: 422 with one line per bad row "
    "in `problems`. Dispatchers and admins only; a dispatcher limited to subdistricts imports "
    "only into them.",
    responses=error_responses(400, *STAFF_ERRORS, 413, 415, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/geo+json": {"schema": _FEATURE_COLLECTION},
                "application/json": {"schema": _FEATURE_COLLECTION},
                "text/csv": {
                    "schema": {
                        "type": "string",
                        "description": "A header with lon, lat, external_id, reported_at, "
                        "category (and source, description), then a row per case.",
                    }
                },
            },
        }
    },
)
def import_case_file(
    request: Request,
    staff: StaffDep,
    city: CityDep,
    store: StoreDep,
    settings: SettingsDep,
    body: Annotated[bytes, Depends(_raw_body)],
    source: Annotated[
        str | None,
        Query(max_length=32, description="Source of rows without one, e.g. hotline_12345."),
    ] = None,
    crs: Annotated[
        str | None,
        Query(description="The coordinates' CRS: wgs84 (default), gcj02, bd09 or EPSG:<code>."),
    ] = None,
) -> ImportOut:
    require(staff, "dispatcher")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = IMPORT_TYPES.get(media)
    if fmt is None:
        raise HTTPException(
            415, f"Content-Type: {media or '(none)'!r} is not one of {', '.join(IMPORT_TYPES)}"
        )
    points = read_cases(body, fmt=fmt, crs=crs)
    scope = staff.subdistricts if staff.role == "dispatcher" and staff.subdistricts else None
    result = import_cases(city, store, settings, points, source=source, scope=scope)
    return ImportOut(rows=result.rows, added=result.added, existing=result.existing)
