"""HTML pages and the static files they need (served by the app: no CDN, works offline)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.deps import CityDep, SettingsDep, StoreDep
from api.errors import error_responses
from api.routes.planning import CategoryQ, CoverageDep, SinceQ, UntilQ, _query
from api.services.planning import build_gaps_page, heat_weights
from geo.hours import local_time

router = APIRouter(tags=["pages"])
Route = TypeVar("Route", bound=Callable[..., Any])


class _OwnStatic(StaticFiles):
    """The project's own JS and CSS. The pages ask for them at content-versioned URLs (``?v=``,
    and an import map for what the modules import); anything else is answered ``no-cache``, so
    a browser without import maps checks a module for changes instead of running a stale one."""

    def file_response(self, full_path, stat_result, scope, status_code=200):
        response = super().file_response(full_path, stat_result, scope, status_code)
        if "v" not in parse_qs(scope.get("query_string", b"").decode("latin-1")):
            response.headers["Cache-Control"] = "no-cache"
        return response


def mount_static(app: FastAPI) -> None:
    """Serve Leaflet and plugins from their PyPI packages, and the project's own JS/CSS."""
    from maps.assets import VENDOR_DIRS

    for name, folder in VENDOR_DIRS.items():
        app.mount(f"/static/vendor/{name}", StaticFiles(directory=folder), name=f"vendor-{name}")
    from maps import STATIC_DIR

    app.mount("/static/yizhan", _OwnStatic(directory=STATIC_DIR), name="yizhan-static")


@router.get("/", response_class=HTMLResponse, summary="The station finder (驿站地图)")
def finder(request: Request, city: CityDep, settings: SettingsDep) -> HTMLResponse:
    from maps.finder import finder_page

    # Open/closed states change with the clock: render at most once a minute per app.
    minute = local_time().replace(second=0, microsecond=0)
    cached = getattr(request.app.state, "finder_page", None)
    if cached is None or cached[0] != minute:
        page = finder_page(
            city,
            **settings.basemaps(),
            at=minute,
            description_max_chars=settings.description_max_chars,
        )
        cached = (minute, page)
        request.app.state.finder_page = cached
    return HTMLResponse(cached[1], headers={"Cache-Control": "no-cache"})


def planning_page(path: str, summary: str) -> Callable[[Route], Route]:
    """A planning page's route: HTML, or the JSON error model for bad parameters."""
    return router.get(
        path, response_class=HTMLResponse, summary=summary, responses=error_responses(422)
    )


@planning_page("/maps/heatmap", "Tips heatmap (隐患热力图)")
def heatmap(
    city: CityDep,
    store: StoreDep,
    settings: SettingsDep,
    since: SinceQ = None,
    until: UntilQ = None,
    category: CategoryQ = None,
) -> HTMLResponse:
    from maps.heatmap import heatmap_page

    spec = _query(city, "1000", "euclidean", "tips", since, until, category).spec()
    weights, aggregated = heat_weights(store, city, spec, raw_max=settings.heatmap_raw_max)
    page = heatmap_page(
        city, weights, aggregated=aggregated, categories=city.categories, **settings.basemaps()
    )
    return HTMLResponse(page)


@planning_page("/maps/coverage", "Coverage map (驿站覆盖图)")
def coverage_map(city: CityDep, settings: SettingsDep, cov: CoverageDep) -> HTMLResponse:
    from maps.coverage import coverage_page

    return HTMLResponse(coverage_page(city, cov, **settings.basemaps()))


@planning_page("/maps/gaps", "Gaps and suggested sites map")
def gaps_map(
    city: CityDep,
    settings: SettingsDep,
    cov: CoverageDep,
    top: Annotated[int, Query(ge=1, le=1000, description="How many worst cells to mark.")] = 20,
    count: Annotated[int, Query(ge=0, description="How many new sites to suggest (0: none).")] = 5,
) -> HTMLResponse:
    page = build_gaps_page(city, cov, settings, top=top, count=count, **settings.basemaps())
    return HTMLResponse(page)
