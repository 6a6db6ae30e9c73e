"""The FastAPI application: data and store are loaded in the lifespan, never at import."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors, openapi
from api.geojson import StationCatalog
from api.middleware import BodyLimit, GZip
from api.routes import cases, desk, meta, metrics, pages, planning, sla, stations, tips
from api.services import webhook
from api.services.history import import_pack_history, import_pack_staff
from api.services.intake import IntakeLimiter, import_pack_tips
from api.settings import Settings, get_settings
from api.stores import open_store
from geo.city import City

log = logging.getLogger("yizhan")


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings: Settings = app.state.settings_override or get_settings()
    city = app.state.city_preloaded or settings.load_city()
    city.warm()
    store = open_store(settings.db)
    try:
        if settings.import_pack_tips and store.count_tips() == 0:
            added = import_pack_tips(city, store)
            if added:
                log.info("imported %d tips from the data pack", added)
                actions = import_pack_history(city, store, settings)
                if actions:
                    log.info("replayed %d case actions from the data pack", actions)
        if import_pack_staff(city, store):
            log.info("made the data pack's staff accounts (the store had none)")
        app.state.settings = settings
        app.state.city = city
        app.state.store = store
        app.state.catalog = StationCatalog(city)
        app.state.limiter = IntakeLimiter.from_settings(settings)
        app.state.work_hours = settings.working_hours()
        # Everything loaded at start lives as long as the process: keep it out of the garbage
        # collector's full passes (measured: 4.4 s of pauses, up to 0.5 s each, per minute of
        # load with 100,000 stations, and p99 latency 4-8x higher, without this).
        gc.collect()
        gc.freeze()
        with webhook.delivering(store, settings):  # case events, when YIZHAN_WEBHOOK_URL is set
            yield
    finally:
        gc.unfreeze()
        store.close()


def create_app(settings: Settings | None = None, *, city: City | None = None) -> FastAPI:
    """The app; ``settings`` override the environment (tests, ``yizhan serve`` options), and a
    ``city`` already loaded from them is used as is (``yizhan serve`` loads it before starting,
    to fail with one line on a bad pack)."""
    app = FastAPI(
        title="Yizhan 驿站",
        summary="Rest stations for couriers, and the hazard tips they report.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings_override = settings
    app.state.city_preloaded = city
    max_bytes = (settings or get_settings()).max_body_bytes
    app.add_middleware(BodyLimit, max_bytes=max_bytes)
    app.add_middleware(GZip, minimum_size=1024)
    errors.install(app)
    openapi.install(app)
    for module in (meta, stations, tips, cases, metrics, sla, planning, pages, desk):
        app.include_router(module.router)
    pages.mount_static(app)
    return app
