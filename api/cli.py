"""The ``yizhan`` command line: the same ``geo``/``maps`` calls the API makes, for batch work."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from api.settings import get_settings
from geo.errors import InvalidLayer, YizhanError

app = typer.Typer(
    name="yizhan",
    help="Rest stations (暖心驿站) and hazard tips: validate, assign, nearest, serve.",
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


def _city(data: Path | None):
    from geo.city import load_city

    settings = get_settings()
    return load_city(
        data or settings.data,
        metric_crs=settings.metric_crs,
        lookup_pixel_m=settings.lookup_pixel_m,
    )


@app.command()
def validate(data: DataOpt = None) -> None:
    """Check a data pack; print every problem, or a one-line summary when it is valid."""
    from geo.layers import read_pack

    settings = get_settings()
    folder = data or settings.data or _demo_dir()
    try:
        pack = read_pack(folder, metric_crs=settings.metric_crs)
    except InvalidLayer as exc:
        for problem in exc.problems:
            _say(problem)
        _say(f"{len(exc.problems)} problem(s) in {folder}")
        raise typer.Exit(1) from None
    print(f"valid: {pack.summary()}")


@app.command()
def assign(
    input: Annotated[Path, typer.Argument(help="CSV with lon, lat columns, or a vector file.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Output .csv, .geojson, .gpkg or .parquet.")
    ],
    crs: CrsOpt = "wgs84",
    data: DataOpt = None,
) -> None:
    """Assign points to grid cell, subdistrict, nearest street and nearest open station."""
    import geopandas as gpd

    from geo import crs as gcrs
    from geo.assign import assign_points
    from geo.io import output_format, read_points, write_frame

    crs = gcrs.parse_crs(crs)
    output_format(output)
    table, lon, lat, problem = read_points(input, crs=crs)
    city = _city(data)
    n = len(table)
    if n > get_settings().progress_min_rows:
        with _progress() as bar:
            task = bar.add_task("assigning", total=n)
            result = assign_points(city, lon, lat, progress=lambda done: bar.advance(task, done))
    else:
        result = assign_points(city, lon, lat)
    table = table.drop(columns=[c for c in result.columns if c in table.columns])
    table = pd.concat([table.reset_index(drop=True), result], axis=1)
    table["problem"] = problem
    usable = problem == ""
    if output.suffix.lower() == ".csv" and input.suffix.lower() == ".csv":
        write_frame(table, output)
    else:
        geometry = np.where(usable, gpd.points_from_xy(lon, lat), None)
        write_frame(gpd.GeoDataFrame(table, geometry=geometry, crs=4326), output)
    outside = int((result["outside_city"] == True).sum())  # noqa: E712 - nullable boolean
    _say(
        f"assigned {n} rows: {int(usable.sum()) - outside} in the city, {outside} outside, "
        f"{int((~usable).sum())} with problems -> {output}"
    )


@app.command()
def nearest(
    lon: Annotated[float, typer.Option("--lon", help="Longitude (or easting).")],
    lat: Annotated[float, typer.Option("--lat", help="Latitude (or northing).")],
    crs: CrsOpt = "wgs84",
    k: Annotated[int, typer.Option("-k", help="How many stations.", min=1)] = 3,
    amenity: Annotated[
        list[str] | None,
        typer.Option("--amenity", help="Required amenity code; repeat for several."),
    ] = None,
    open_at: Annotated[
        str | None,
        typer.Option("--open-at", help="Only stations open at this local time (2026-06-01T22:30)."),
    ] = None,
    any_status: Annotated[
        bool, typer.Option("--any-status", help="Include closed and suspended stations.")
    ] = False,
    data: DataOpt = None,
) -> None:
    """The k nearest stations to a point, as a table."""
    from geo.hours import local_time
    from geo.layers import AMENITIES
    from geo.nearest import nearest_stations

    if k > get_settings().nearest_max_k:
        raise YizhanError(
            f"-k {k} is more than YIZHAN_NEAREST_MAX_K={get_settings().nearest_max_k}"
        )
    at = local_time(open_at) if open_at else None
    city = _city(data)
    rows = nearest_stations(
        city,
        lon,
        lat,
        crs=crs,
        k=k,
        amenities=amenity,
        open_at=at,
        status=None if any_status else "open",
    )
    when = at or local_time()
    table = Table(title=f"最近的驿站 (open at {when:%Y-%m-%d %H:%M})")
    for column in ("#", "站点", "名称", "距离(m)", "营业", "设施", "开放时间", "地址"):
        table.add_column(column, overflow="fold")
    for rank, row in enumerate(rows, start=1):
        table.add_row(
            str(rank),
            row.station_id,
            row.name,
            f"{row.distance_m:,.0f}",
            "营业中" if row.open_now else "休息",
            "、".join(AMENITIES.get(a, a) for a in row.amenities),
            row.opening_hours,
            row.address,
        )
    if not rows:
        _say("no station matches")
        raise typer.Exit(1)
    out.print(table)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address (YIZHAN_HOST).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (YIZHAN_PORT).")] = None,
    data: DataOpt = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Tip store URL (YIZHAN_DB), e.g. sqlite:///yizhan.db."),
    ] = None,
) -> None:
    """Run the web service: the station finder at /, the API under /api, OpenAPI at /docs."""
    import uvicorn

    from api.app import create_app
    from api.store import open_store
    from geo.layers import read_pack

    settings = get_settings()
    updates = {"host": host, "port": port, "data": data, "db": db}
    settings = settings.model_copy(update={k: v for k, v in updates.items() if v is not None})
    # fail fast, with one line, before the server starts
    read_pack(settings.data or _demo_dir(), metric_crs=settings.metric_crs)
    open_store(settings.db).close()
    _say(f"Yizhan on http://{settings.host}:{settings.port}/  (API docs at /docs)")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


def _demo_dir() -> Path:
    from data import DEMO_DIR

    return DEMO_DIR


def _say(message: str) -> None:
    """One plain line on stderr (no wrapping, no markup)."""
    print(message, file=sys.stderr, flush=True)


def _progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    )


def main() -> None:
    """Entry point: run the app; domain errors become one line on stderr and exit code 1."""
    try:
        app(standalone_mode=True)
    except YizhanError as exc:
        _say(f"error: {exc}")
        sys.exit(1)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "YIZHAN_" + str(first["loc"][0]).upper() if first.get("loc") else "setting"
        value = first.get("input")
        _say(f"error: {name}={value!r}: {first['msg']}")
        sys.exit(1)
    except OSError as exc:
        _say(f"error: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        _say("interrupted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback
        _say(f"error: unexpected {type(exc).__name__}: {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
