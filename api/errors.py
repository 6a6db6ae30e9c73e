"""One place that turns domain errors and bad requests into HTTP answers (never a 500)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo.errors import (
    Conflict,
    InvalidInput,
    InvalidLayer,
    NotFound,
    OutsideCity,
    TooMany,
    UnknownCRS,
    YizhanError,
)

log = logging.getLogger("yizhan")

STATUS: dict[type[YizhanError], int] = {
    NotFound: 404,
    Conflict: 409,
    TooMany: 429,
    InvalidInput: 422,
    UnknownCRS: 422,
    OutsideCity: 422,
    InvalidLayer: 422,
}


def status_for(exc: YizhanError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def _field(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(map(str, loc))


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(YizhanError)
    async def domain_error(request: Request, exc: YizhanError):
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooMany) else None
        return JSONResponse({"detail": str(exc)}, status_code=status_for(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = []
        for err in exc.errors():
            field = _field(err.get("loc", ()))
            value = err.get("input")
            shown = repr(value) if not isinstance(value, dict) or len(repr(value)) < 200 else "..."
            if len(shown) > 200:
                shown = shown[:200] + "..."
            if err.get("type") == "missing":
                shown = ""
            errors.append({"field": field, "message": err.get("msg", ""), "input": shown})
        first = errors[0] if errors else {"field": "request", "message": "invalid", "input": ""}
        detail = f"{first['field']}: {first['message']}"
        if first["input"] not in ("", "None"):
            detail += f" (got {first['input']})"
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # pragma: no cover - a bug
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)
