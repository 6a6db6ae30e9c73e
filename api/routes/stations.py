"""Stations: list with filters, one by id, and the nearest to a point."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from api.deps import CityDep, SettingsDep
from api.errors import error_responses
from api.geojson import StationCatalog, check_out_crs, parse_bbox
from api.services import stations as service
from geo.errors import NotFound
from geo.hours import local_time
from geo.pack import StationStatus

router = APIRouter(prefix="/api/stations", tags=["stations"])

AmenityQ = Annotated[
    list[str] | None, Query(description="Required amenity code; repeat for several.")
]
OutCrsQ = Annotated[str, Query(description="Output coordinates: wgs84, gcj02 or bd09.")]
OpenAtQ = Annotated[
    str | None,
    Query(description="Evaluate opening hours at this local time (ISO 8601); default now."),
]


def _catalog(request: Request) -> StationCatalog:
    return request.app.state.catalog


@router.get("", summary="All stations as GeoJSON, with filters", responses=error_responses(422))
async def list_stations(
    request: Request,
    city: CityDep,
    amenity: AmenityQ = None,
    open_now: Annotated[bool, Query(description="Only stations open now.")] = False,
    status: Annotated[StationStatus | None, Query(description="open, closed or suspended.")] = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS84).")] = None,
    out_crs: OutCrsQ = "wgs84",
    open_at: OpenAtQ = None,
) -> Response:
    catalog = _catalog(request)
    out_crs = check_out_crs(out_crs)
    at = local_time(open_at)
    rows = service.select_stations(
        city, amenities=amenity, status=status, bbox=parse_bbox(bbox), open_only=open_now, at=at
    )
    index = city.station_index
    features = [
        catalog.feature(row, open_now=index.open_now(row, at), out_crs=out_crs) for row in rows
    ]
    return _json(catalog.collection(features))


class NearestQuery(BaseModel):
    """The query of ``/api/stations/nearest`` (one model: validated in one pass)."""

    lon: float = Field(allow_inf_nan=False, description="Longitude in `crs`.")
    lat: float = Field(allow_inf_nan=False, description="Latitude in `crs`.")
    crs: str = Field("wgs84", description="wgs84, gcj02, bd09 or EPSG:<code>.")
    k: int = Field(3, ge=1, description="How many stations.")
    amenity: list[str] = Field([], description="Required amenity code; repeat for several.")
    open_now: bool = Field(False, description="Only stations open now.")
    status: StationStatus | None = Field("open", description="Required status; default open.")
    out_crs: str = Field("wgs84", description="Output coordinates: wgs84, gcj02 or bd09.")
    open_at: str | None = Field(
        None, description="Evaluate opening hours at this local time (ISO 8601); default now."
    )


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    """OpenAPI ``parameters`` for a query model validated inside the endpoint."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema["properties"].items():
        body = {k: v for k, v in prop.items() if k not in ("title", "description")}
        out.append(
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "description": prop.get("description", ""),
                "schema": body,
            }
        )
    return out


def _parse_query(model: type[BaseModel], request: Request, *, lists: tuple[str, ...] = ()):
    """Validate the query string against ``model`` with pydantic, errors as FastAPI's 422.

    Measured here: FastAPI's own handling of these nine parameters cost ~150 us a request (it
    re-inspects every annotation each time), a third of the whole request; pydantic alone ~10 us.
    """
    params = request.query_params
    raw = {key: params.getlist(key) if key in lists else params[key] for key in params}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


@router.get(
    "/nearest",
    summary="The k nearest stations to a point, nearest first",
    responses=error_responses(422),
    openapi_extra={"parameters": _query_parameters(NearestQuery)},
)
async def nearest(request: Request, city: CityDep, settings: SettingsDep) -> Response:
    q = _parse_query(NearestQuery, request, lists=("amenity",))
    out_crs = check_out_crs(q.out_crs)
    found = service.nearest(
        city,
        settings,
        q.lon,
        q.lat,
        crs=q.crs,
        k=q.k,
        amenities=q.amenity,
        status=q.status,
        open_only=q.open_now,
        at=q.open_at,
    )
    catalog = _catalog(request)
    features = [
        catalog.feature(s.row, open_now=s.open_now, out_crs=out_crs, distance_m=s.distance_m)
        for s in found
    ]
    return _json(catalog.collection(features))


@router.get(
    "/{station_id}",
    summary="One station as a GeoJSON Feature",
    responses=error_responses(404, 422),
)
async def get_station(
    request: Request,
    city: CityDep,
    station_id: str,
    out_crs: OutCrsQ = "wgs84",
    open_at: OpenAtQ = None,
) -> Response:
    catalog = _catalog(request)
    row = catalog.row_of.get(station_id)
    if row is None:
        raise NotFound(f"station_id {station_id!r} does not exist")
    open_now = city.station_index.open_now(row, local_time(open_at))
    return _json(catalog.feature(row, open_now=open_now, out_crs=check_out_crs(out_crs)))


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")
