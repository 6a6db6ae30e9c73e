"""The rates (综合评价) for staff: 结案率, 按期结案率, 返工率, 满意率 per group and for the city."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import CityDep, StoreDep
from api.errors import error_responses
from api.routes.cases import STAFF_ERRORS, StaffDep
from api.services import metrics as metrics_service
from api.services.metrics import GroupBy

router = APIRouter(prefix="/api", tags=["metrics (staff)"])


class RatesOut(BaseModel):
    """One group's cases, the counts behind its rates, and the rates (null: nothing to divide
    by)."""

    key: str | None = Field(
        description="The group: a subdistrict code, unit id, category code, month (YYYY-MM) or "
        "source; null for cases without one (outside every subdistrict, no unit yet); `city` "
        "for the total."
    )
    name: str = Field(description="Its Chinese name (全市 for the city).")
    cases: int = Field(description="案件数: cases reported in the period.")
    registered: int = Field(description="立案数: registered at some point.")
    closed: int = Field(description="结案数: closed now.")
    closed_rate: float | None = Field(description="结案率: closed ÷ registered.")
    closed_on_time: int = Field(
        description="Closed with its last handling at or before its handling deadline."
    )
    due: int = Field(
        description="Cases with a handling deadline that has passed, or closed ones with a "
        "deadline; suspended cases left out."
    )
    on_time_rate: float | None = Field(description="按期结案率: closed_on_time ÷ due.")
    reworked: int = Field(description="Sent back for rework at least once.")
    handled: int = Field(description="Handled at least once.")
    rework_rate: float | None = Field(description="返工率: reworked ÷ handled.")
    satisfied: int = Field(description="Reporters who said it was fixed (yes).")
    rated: int = Field(description="Reporters who said yes or no (unknown left out).")
    satisfied_rate: float | None = Field(description="满意率: satisfied ÷ rated.")
    median_hours_to_close: float | None = Field(
        description="结案中位时长: the median hours from report to close of the closed cases."
    )


class ScopeOut(BaseModel):
    """The cases the account sees: null means every subdistrict, every unit."""

    subdistricts: list[str] | None
    unit_id: str | None


class MetricsOut(BaseModel):
    """The rates per group, sorted by key (no key last), and for the whole city."""

    group_by: GroupBy
    since: str | None = Field(description="Cases reported at or after (ISO 8601, +08:00).")
    until: str | None = Field(description="Cases reported before (ISO 8601, +08:00).")
    as_of: str = Field(description="The time overdue cases are counted at.")
    scope: ScopeOut
    groups: list[RatesOut]
    city: RatesOut = Field(description="All the cases the account sees (key `city`).")


@router.get(
    "/metrics",
    summary="The rates (综合评价) per subdistrict, unit, category, month or source",
    responses=error_responses(*STAFF_ERRORS, 422),
)
def metrics(
    staff: StaffDep,
    city: CityDep,
    store: StoreDep,
    group_by: Annotated[
        GroupBy, Query(description="Group by subdistrict, unit, category, month or source.")
    ] = "subdistrict",
    since: Annotated[
        str | None,
        Query(description="Cases reported at or after (ISO 8601; without an offset, city time)."),
    ] = None,
    until: Annotated[str | None, Query(description="Cases reported before (ISO 8601).")] = None,
) -> MetricsOut:
    answer = metrics_service.case_metrics(
        city, store, staff, group_by=group_by, since=since, until=until
    )
    return MetricsOut.model_validate(answer)
