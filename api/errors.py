"""One error model for every answer that is not a success, and the one place that turns domain
errors and bad requests into it (never a 500 for bad input).

Every error is ``{"detail": "<one line naming the field and the value>"}``; a request that fails
validation also lists every problem in ``errors``. Each route documents, with
:func:`error_responses`, the statuses it can answer, so the OpenAPI document tells the truth.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidLayer,
    NotAuthenticated,
    NotFound,
    OutsideCity,
    TooMany,
    UnknownCRS,
    YizhanError,
)

log = logging.getLogger("yizhan")


class FieldError(BaseModel):
    """One problem with one field of a request."""

    field: str = Field(description="The field, e.g. `lon` or `body.category`.")
    message: str = Field(description="What is wrong with it.")
    input: str = Field(description="The value given (shortened), empty when it was missing.")


class ErrorBody(BaseModel):
    """Every error answer."""

    detail: str = Field(description="One line naming the field and the value, or the reason.")
    errors: list[FieldError] | None = Field(
        default=None, description="For a request that fails validation: every problem."
    )
    problems: list[str] | None = Field(
        default=None,
        description="For a file refused whole (an import): one line per problem, each naming "
        "the row and the field.",
    )


_WHY = {
    400: "The request cannot be read.",
    401: "A staff token is missing or not valid.",
    403: "The token's role or scope does not allow this.",
    404: "No such resource.",
    409: "The request conflicts with what is stored: an idempotency key reused, an action "
    "the case's state does not allow, or a case another staff member changed meanwhile.",
    413: "The request body is larger than YIZHAN_MAX_BODY_BYTES.",
    415: "The body's Content-Type is not one this operation reads.",
    422: "A parameter or a field is not valid; `detail` names it and its value.",
    429: "Over a rate limit; `Retry-After` says after how many seconds to try again.",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route for the error statuses it can answer."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {"model": ErrorBody, "description": _WHY[status]}
        if status == 429:
            out[status]["headers"] = _RETRY_AFTER
    return out


STATUS: dict[type[YizhanError], int] = {
    NotAuthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooMany: 429,
    InvalidInput: 422,
    UnknownCRS: 422,
    OutsideCity: 422,
    InvalidLayer: 422,
}


def status_for(exc: YizhanError) -> int:
    """The HTTP status of a domain error (its nearest listed class)."""
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(map(str, loc))


def _shown(err: dict[str, Any]) -> str:
    if err.get("type") == "missing":
        return ""
    value = err.get("input")
    shown = repr(value)
    return shown if len(shown) <= 200 else shown[:200] + "..."


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path) and getattr(route, "methods", None):
            methods |= set(route.methods)
    return sorted(methods)


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(YizhanError)
    async def domain_error(request: Request, exc: YizhanError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooMany) else None
        if isinstance(exc, NotAuthenticated):
            headers = {"WWW-Authenticate": 'Bearer realm="yizhan"'}
        body: dict[str, Any] = {"detail": str(exc)}
        if isinstance(exc, InvalidLayer) and len(exc.problems) > 1:
            body = {
                "detail": f"{len(exc.problems)} problems, the first: {exc.problems[0]}",
                "problems": exc.problems,
            }
        return JSONResponse(body, status_code=status_for(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field(e.get("loc", ())), "message": e.get("msg", ""), "input": _shown(e)}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "request", "message": "invalid", "input": ""}
        detail = f"{first['field']}: {first['message']}"
        if first["input"] not in ("", "None"):
            detail += f" (got {first['input']})"
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return JSONResponse(
            {"detail": str(exc.detail)}, status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)
