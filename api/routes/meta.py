"""Health and reference tables."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CityDep, StoreDep

router = APIRouter(prefix="/api", tags=["meta"])


@router.get("/health", summary="Service health and the counts of loaded layers")
async def health(city: CityDep, store: StoreDep) -> dict:
    return {
        "status": "ok",
        "city": city.name,
        "metric_crs": city.metric_crs,
        "layers": {
            "stations": len(city.stations),
            "grid": len(city.grid),
            "subdistricts": len(city.subdistricts),
            "streets": len(city.streets),
        },
        "store": store.backend,
    }


@router.get("/categories", summary="The tip category table")
async def categories(city: CityDep) -> list[dict]:
    table = city.categories.fillna("")
    return [{k: str(v) for k, v in row.items()} for row in table.to_dict(orient="records")]
