"""The rates (综合评价) on the command line: a table, or a sheet for Excel (``-o .xlsx|.csv``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from api.cli.app import DataOpt, DbOpt, app, err, load_city, out, say, settings
from api.services.metrics import GROUP_NAMES, GroupBy, case_metrics
from geo.errors import InvalidInput
from geo.io import output_format, write_frame

# the columns of the sheet: the counts and rates the city reports, in its words
COLUMNS = {
    "cases": "案件数",
    "registered": "立案数",
    "closed": "结案数",
    "closed_rate": "结案率",
    "on_time_rate": "按期结案率",
    "rework_rate": "返工率",
    "satisfied_rate": "满意率",
    "median_hours_to_close": "结案中位时长(小时)",
}
RATES = ("closed_rate", "on_time_rate", "rework_rate", "satisfied_rate")


def metrics_table(answer: dict[str, Any]) -> pd.DataFrame:
    """The groups and, as the last row, the city: 代码, the group's name and :data:`COLUMNS`."""
    label = GROUP_NAMES[answer["group_by"]]
    city = {**answer["city"], "key": ""}
    rows = [*answer["groups"], city]
    return pd.DataFrame(
        {
            "代码": [r["key"] for r in rows],
            label: [r["name"] for r in rows],
            **{title: [r[name] for r in rows] for name, title in COLUMNS.items()},
        }
    )


def _cell(value: Any, name: str) -> str:
    if value is None:
        return "—"
    if name in RATES:
        return f"{value:.1%}"
    if name == "median_hours_to_close":
        return f"{value:,.1f}"
    return f"{value:,}"


def _shown(answer: dict[str, Any]) -> Table:
    period = f"{answer['since'] or '…'} — {answer['until'] or '…'}"
    shown = Table(title=f"综合评价 (按{GROUP_NAMES[answer['group_by']]}, {period})")
    shown.add_column(GROUP_NAMES[answer["group_by"]])
    for title in COLUMNS.values():
        shown.add_column(title, justify="right")
    for row in [*answer["groups"], answer["city"]]:
        shown.add_row(row["name"], *[_cell(row[name], name) for name in COLUMNS])
    return shown


@app.command()
def metrics(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the table to .xlsx or .csv.")
    ] = None,
    group_by: Annotated[
        GroupBy,
        typer.Option("--group-by", help="subdistrict, unit, category, month or source."),
    ] = "subdistrict",
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="ISO", help="Cases reported at or after (local time)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="ISO", help="Cases reported before (local time)."),
    ] = None,
    db: DbOpt = None,
    data: DataOpt = None,
) -> None:
    """The rates per group and for the city: 结案率, 按期结案率, 返工率, 满意率, 结案中位时长."""
    from api.stores import open_store

    if output is not None and output_format(output, tables=True) not in ("CSV", "Excel"):
        raise InvalidInput(f"output {str(output)!r}: the rates are a table; use .xlsx or .csv")
    city = load_city(data)
    store = open_store(db or settings().db)
    try:
        with err.status("统计…"):
            answer = case_metrics(city, store, None, group_by=group_by, since=since, until=until)
    finally:
        store.close()
    shown = _shown(answer)
    if out.is_terminal:
        out.print(shown)
    else:  # a pipe or a file gets all of it: rich's 80 columns would cut the numbers
        width = Measurement.get(out, out.options.update(max_width=10_000), shown).maximum
        Console(file=out.file, width=width).print(shown)
    if output is not None:
        write_frame(metrics_table(answer), output)
        say(f"wrote {output}")
