"""The desk for staff (案件工作台): one public page; everything on it comes from the staff API
with the token the person signs in with."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.deps import CityDep, SettingsDep
from api.services.cases import vocabulary

router = APIRouter(tags=["pages"])
PAGE_SIZE = 50  # cases the queue loads at a time (at most YIZHAN_CASES_PAGE_MAX)


@router.get("/desk", response_class=HTMLResponse, summary="The desk for staff (案件工作台)")
def desk(city: CityDep, settings: SettingsDep) -> HTMLResponse:
    from maps.desk import desk_page

    page = desk_page(
        city,
        vocabulary=vocabulary(),
        page_size=min(PAGE_SIZE, settings.cases_page_max),
        page_max=settings.cases_page_max,
        **settings.basemaps(),
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})
