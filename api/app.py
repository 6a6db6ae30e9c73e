"""The FastAPI application: data and store are loaded in the lifespan, never at import."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware

from api import errors
from api.geojson import StationCatalog
from api.middleware import BodyLimit
from api.ratelimit import ClientLimiter
from api.routes import meta, pages, planning, stations, tips
from api.settings import Settings, get_settings
from api.store import Store, open_store
from geo.assign import assign_points
from geo.city import City, load_city

log = logging.getLogger("yizhan")


def import_pack_tips(city: City, store: Store) -> int:
    """Copy the pack's tips (assigned) into an empty store; return how many were added."""
    tips = city.pack.tips
    if tips is None or len(tips) == 0 or store.count_tips() > 0:
        return 0
    assigned = assign_points(city, tips.geometry.x, tips.geometry.y)
    records = []
    for tip, (_, a) in zip(tips.itertuples(index=False), assigned.iterrows(), strict=True):
        records.append(
            {
                "tip_id": tip.tip_id,
                "reported_at": tip.reported_at.isoformat(),
                "category": tip.category,
                "description": tip.description,
                "reporter_id": tip.reporter_id,
                "status": tip.status or "open",
                "lon": float(tip.geometry.x),
                "lat": float(tip.geometry.y),
                "grid_code": a["grid_code"],
                "subdistrict_code": a["subdistrict_code"],
                "street_name": a["street_name"],
                "street_distance_m": float(a["street_distance_m"]),
                "nearest_station_id": a["nearest_station_id"],
                "station_distance_m": float(a["station_distance_m"]),
                "outside_city": bool(a["outside_city"]),
            }
        )
    return store.import_tips(records)


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings: Settings = app.state.settings_override or get_settings()
    city = load_city(
        settings.data, metric_crs=settings.metric_crs, lookup_pixel_m=settings.lookup_pixel_m
    ).warm()
    store = open_store(settings.db)
    try:
        if settings.import_pack_tips:
            added = import_pack_tips(city, store)
            if added:
                log.info("imported %d tips from the data pack", added)
        app.state.settings = settings
        app.state.city = city
        app.state.store = store
        app.state.catalog = StationCatalog(city)
        app.state.limiter = (
            ClientLimiter(settings.tip_rate_per_minute) if settings.tip_rate_per_minute else None
        )
        yield
    finally:
        store.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; ``settings`` override the environment (tests, ``yizhan serve`` options)."""
    app = FastAPI(
        title="Yizhan 驿站",
        summary="Rest stations for couriers, and the hazard tips they report.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings_override = settings
    max_bytes = (settings or get_settings()).max_body_bytes
    app.add_middleware(BodyLimit, max_bytes=max_bytes)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    errors.install(app)
    for module in (meta, stations, tips, planning, pages):
        app.include_router(module.router)
    pages.mount_static(app)
    return app
