"""The ``yizhan`` Typer app and what its commands share: options declared once, one-line
messages, progress bars."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from api.settings import Settings, get_settings
from geo.city import City
from geo.coverage import Metric

app = typer.Typer(
    name="yizhan",
    help="Rest stations (暖心驿站) and hazard tips: validate, assign, nearest, plan, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out = Console()
err = Console(stderr=True)

DataOpt = Annotated[
    Path | None,
    typer.Option("--data", help="Data pack folder (default: YIZHAN_DATA or the demo city)."),
]
CrsOpt = Annotated[
    str, typer.Option("--crs", help="Input coordinates: wgs84, gcj02, bd09 or EPSG:<code>.")
]
DbOpt = Annotated[
    str | None, typer.Option("--db", metavar="URL", help="The store (default: YIZHAN_DB).")
]
OutOpt = Annotated[
    Path | None,
    typer.Option("-o", "--output", help="Write to .csv, .xlsx, .geojson, .gpkg or .parquet."),
]


def settings() -> Settings:
    return get_settings()


def load_city(data: Path | None) -> City:
    return get_settings().load_city(data)


def say(message: str) -> None:
    """One plain line on stderr (no wrapping, no markup)."""
    print(message, file=sys.stderr, flush=True)


def progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    )


@dataclass(frozen=True)
class PlanningArgs:
    """The options every planning command takes (declared once, in :func:`planning_command`)."""

    radius_m: str
    metric: Metric
    demand: str
    since: str | None
    until: str | None
    category: list[str] | None
    data: Path | None
    db: str | None


_PLANNING_OPTIONS: dict[str, tuple[Any, Any]] = {
    "radius_m": (
        Annotated[
            str,
            typer.Option(
                "--radius-m",
                metavar="METRES",
                help="Covered within this many metres, or walk15 / ride15.",
            ),
        ],
        "1000",
    ),
    "metric": (
        Annotated[
            Metric,
            typer.Option("--metric", help="euclidean (straight line) or network (along streets)."),
        ],
        "euclidean",
    ),
    "demand": (
        Annotated[
            str,
            typer.Option(
                "--demand",
                metavar="KIND",
                help="tips, households, population or tips:0.7,households:0.3.",
            ),
        ],
        "tips",
    ),
    "since": (
        Annotated[
            str | None,
            typer.Option(
                "--since", metavar="ISO", help="Count tips reported at or after (local time)."
            ),
        ],
        None,
    ),
    "until": (
        Annotated[
            str | None,
            typer.Option("--until", metavar="ISO", help="Count tips reported before (local time)."),
        ],
        None,
    ),
    "category": (
        Annotated[
            list[str] | None,
            typer.Option(
                "--category", metavar="CODE", help="Count only this category; repeatable."
            ),
        ],
        None,
    ),
    "data": (DataOpt, None),
    "db": (
        Annotated[
            str | None,
            typer.Option(
                "--db",
                metavar="URL",
                help="Count the tips in this store (default: the data pack's tips).",
            ),
        ],
        None,
    ),
}
assert list(_PLANNING_OPTIONS) == [f.name for f in fields(PlanningArgs)]

F = TypeVar("F", bound=Callable[..., None])


def planning_command(func: F) -> F:
    """Give a command the planning options as one ``plan: PlanningArgs`` argument."""
    signature = inspect.signature(func, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "plan"]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, (kind, default) in _PLANNING_OPTIONS.items()
    ]

    @functools.wraps(func)
    def command(**kwargs: Any) -> None:
        plan = PlanningArgs(**{name: kwargs.pop(name) for name in _PLANNING_OPTIONS})
        func(plan=plan, **kwargs)

    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + shared
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return command  # type: ignore[return-value]
