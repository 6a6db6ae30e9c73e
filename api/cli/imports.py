"""Imports on the command line: ``yizhan import cases FILE`` (the 12345 hotline's, grid
workers')."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from api.cli.app import CrsOpt, DataOpt, DbOpt, app, load_city, progress, say, settings

imports = typer.Typer(help="Bulk imports into the store.", no_args_is_help=True)
app.add_typer(imports, name="import")

FORMATS: dict[str, Literal["csv", "geojson"]] = {
    ".csv": "csv",
    ".geojson": "geojson",
    ".json": "geojson",
}


@imports.command("cases")
def cases(
    file: Annotated[
        Path,
        typer.Argument(help="CSV with lon, lat columns, or GeoJSON; one case per row."),
    ],
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            metavar="CODE",
            help="The source of rows without a source column, e.g. hotline_12345, grid_worker.",
        ),
    ] = None,
    crs: CrsOpt = "wgs84",
    db: DbOpt = None,
    data: DataOpt = None,
) -> None:
    """Import cases (external_id, source, reported_at, category, description, position); a
    file imported again adds only what is new. A bad row refuses the whole file."""
    from api.services.imports import import_cases, read_cases
    from api.stores import open_store
    from geo.errors import InvalidInput, InvalidLayer

    fmt = FORMATS.get(file.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"file {str(file)!r}: unsupported suffix {file.suffix or '(none)'!r}; "
            f"use one of {', '.join(FORMATS)}"
        )
    if not file.is_file():
        raise InvalidInput(f"file {str(file)!r} does not exist")
    # a CSV's coordinates are in --crs; GeoJSON is WGS84 unless --crs (or its crs member) says
    given = crs if fmt == "csv" or crs != "wgs84" else None
    points = read_cases(file.read_bytes(), fmt=fmt, crs=given, name=file.name)
    city = load_city(data)
    store = open_store(db or settings().db)
    try:
        rows = len(points[0])
        try:
            if rows > settings().progress_min_rows:
                with progress() as bar:
                    task = bar.add_task("importing", total=2 * rows)
                    result = import_cases(
                        city,
                        store,
                        settings(),
                        points,
                        source=source,
                        name=file.name,
                        progress=lambda done: bar.advance(task, done),
                    )
            else:
                result = import_cases(
                    city, store, settings(), points, source=source, name=file.name
                )
        except InvalidLayer as exc:
            for problem in exc.problems:
                say(problem)
            say(f"{len(exc.problems)} problem(s) in {file.name}: nothing imported")
            raise typer.Exit(1) from None
    finally:
        store.close()
    say(
        f"imported {file.name}: {result.rows} rows, {result.added} added, "
        f"{result.existing} already there"
    )
