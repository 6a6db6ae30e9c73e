"""Deadlines: when a step of a case falls due, for checking the arithmetic on its own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import CityDep, WorkHoursDep
from api.errors import error_responses
from api.services.planning import categories_of, parse_when
from geo.errors import InvalidInput
from geo.pack import Step, Urgency
from geo.sla import Clock, calendar_covers, step_deadline

router = APIRouter(prefix="/api/sla", tags=["sla"])

# A case's clock starts in these years; the answer may fall up to a year later.
FIRST_YEAR, LAST_YEAR = 1900, 2999


class DueOut(BaseModel):
    """When one step of a case falls due, and the limit and clock that say so."""

    from_: str = Field(alias="from", description="The start, in city time (ISO 8601, +08:00).")
    due_at: str = Field(description="When the step falls due, in city time (ISO 8601, +08:00).")
    step: Step
    category: str | None = Field(description="The case's category; null when none was given.")
    urgency: Urgency
    minutes: int = Field(description="The limit, in minutes of the clock.")
    clock: Clock = Field(
        description="working (normal cases: minutes inside the working hours of working days) "
        "or calendar (urgent cases: every minute)."
    )
    sla_category: str = Field(description="The sla.csv row used: the category's own, or *.")
    work_hours: str = Field(description="The working periods of a day (YIZHAN_WORK_HOURS).")
    calendar_covers: bool = Field(
        description="Whether the holiday calendar knows every year from `from` to `due_at`; "
        "if not, working days there are taken as Monday to Friday."
    )


@router.get(
    "/due",
    summary="When a step of a case falls due (working or calendar time)",
    responses=error_responses(422),
)
async def due(
    city: CityDep,
    hours: WorkHoursDep,
    from_: Annotated[
        str,
        Query(
            alias="from",
            description="When the step's clock starts (ISO 8601); without an offset, city "
            f"time. Years {FIRST_YEAR}-{LAST_YEAR}.",
            examples=["2025-09-30T17:00:00+08:00"],
            json_schema_extra={"format": "date-time"},
        ),
    ],
    step: Annotated[Step, Query(description="register, dispatch, handle or verify.")],
    urgency: Annotated[
        Urgency, Query(description="normal (working time) or urgent (calendar time).")
    ] = "normal",
    category: Annotated[
        str | None, Query(max_length=16, description="The case's category; default the * row.")
    ] = None,
) -> DueOut:
    start = parse_when(from_, "from")
    if start is None:
        raise InvalidInput("from: an ISO 8601 date-time is required, e.g. 2025-09-30T17:00+08:00")
    if not FIRST_YEAR <= start.year <= LAST_YEAR:
        raise InvalidInput(f"from: {from_!r} is not in the years {FIRST_YEAR}-{LAST_YEAR}")
    if category is not None:
        categories_of([category], city)
    deadline = step_deadline(
        city.sla, step=step, category=category, urgency=urgency, start=start, hours=hours
    )
    years = range(deadline.start.year, deadline.due_at.year + 1)
    return DueOut.model_validate(
        {
            "from": deadline.start.isoformat(),
            "due_at": deadline.due_at.isoformat(),
            "step": deadline.step,
            "category": category,
            "urgency": deadline.urgency,
            "minutes": deadline.minutes,
            "clock": deadline.clock,
            "sla_category": deadline.row_category,
            "work_hours": str(hours),
            "calendar_covers": all(calendar_covers(year) for year in years),
        }
    )
