"""HTML pages and the static files they need (served by the app: no CDN, works offline)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.deps import CityDep, SettingsDep
from geo.hours import local_time

router = APIRouter(tags=["pages"])


def mount_static(app: FastAPI) -> None:
    """Serve Leaflet and plugins from their PyPI packages, and the project's own JS/CSS."""
    from maps.assets import VENDOR_DIRS

    for name, folder in VENDOR_DIRS.items():
        app.mount(f"/static/vendor/{name}", StaticFiles(directory=folder), name=f"vendor-{name}")
    from maps import STATIC_DIR

    app.mount("/static/yizhan", StaticFiles(directory=STATIC_DIR), name="yizhan-static")


@router.get("/", response_class=HTMLResponse, summary="The station finder (驿站地图)")
def finder(request: Request, city: CityDep, settings: SettingsDep) -> HTMLResponse:
    from maps.finder import finder_page

    # Open/closed states change with the clock: render at most once a minute per app.
    minute = local_time().replace(second=0, microsecond=0)
    cached = getattr(request.app.state, "finder_page", None)
    if cached is None or cached[0] != minute:
        page = finder_page(
            city,
            basemap=settings.basemap,
            tianditu_key=settings.tianditu_key,
            tile_url_osm=settings.tile_url_osm,
            at=minute,
            description_max_chars=settings.description_max_chars,
        )
        cached = (minute, page)
        request.app.state.finder_page = cached
    return HTMLResponse(cached[1], headers={"Cache-Control": "no-cache"})
