"""The OpenAPI document, made to tell the truth about what the service takes and answers.

FastAPI's own document is post-processed once, when it is first asked for (after the city is
loaded): every error answer is the JSON :class:`api.errors.ErrorBody`, also for the HTML pages;
and the choices that come from data (the city's category codes, the amenity codes) are listed as
enums, so that a generated client knows them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from geo.city import City
from geo.pack import AMENITIES

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def install(app: FastAPI) -> None:
    """Serve the post-processed document at ``/openapi.json`` (and in ``/docs``)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            _errors_as_json(schema)
            city = getattr(app.state, "city", None)
            categories = list(city.categories["code"]) if city is not None else []
            _enums(schema, {"category": categories, "amenity": list(AMENITIES)})
            if city is not None:
                _examples(schema, city)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _errors_as_json(schema: dict[str, Any]) -> None:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if str(status)[0] in "45":
                    response["content"] = {"application/json": {"schema": ERROR_REF}}


def _enums(schema: dict[str, Any], choices: dict[str, list[str]]) -> None:
    """List the known values of query parameters and body fields named in ``choices``."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                values = choices.get(parameter.get("name", ""))
                if values and parameter.get("in") == "query":
                    _restrict(parameter.get("schema", {}), values)
    for component in schema.get("components", {}).get("schemas", {}).values():
        for name, prop in component.get("properties", {}).items():
            if choices.get(name):
                _restrict(prop, choices[name])


def _examples(schema: dict[str, Any], city: City) -> None:
    """Examples inside this city: a tip at a point of its first grid cell, the nearest
    stations from there (what ``/docs`` offers to try, and what a generated client starts from)."""
    point = city.grid.geometry.iloc[0].representative_point()
    lon, lat = round(float(point.x), 6), round(float(point.y), 6)
    tip = schema.get("components", {}).get("schemas", {}).get("TipIn")
    if tip is not None:
        tip["examples"] = [
            {
                "lon": lon,
                "lat": lat,
                "crs": "wgs84",
                "category": str(city.categories["code"].iloc[0]),
                "description": "井盖缺失，在路口东侧",
                "reporter_id": "r-3f9a2c",
            }
        ]
    for path in ("/api/stations/nearest",):
        for parameter in schema.get("paths", {}).get(path, {}).get("get", {}).get("parameters", []):
            value = {"lon": lon, "lat": lat}.get(parameter.get("name"))
            if value is not None:
                parameter["example"] = value


def _restrict(node: dict[str, Any], values: list[str]) -> None:
    """Put ``enum`` on the string schemas inside ``node`` (through arrays and anyOf)."""
    if node.get("type") == "string":
        node.pop("minLength", None)
        node.pop("maxLength", None)
        node["enum"] = values
    if isinstance(node.get("items"), dict):
        _restrict(node["items"], values)
    for option in node.get("anyOf", []):
        _restrict(option, values)
