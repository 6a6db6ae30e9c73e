"""Checking a pack, assigning a file of points, and the nearest stations to one point."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from api.cli.app import CrsOpt, DataOpt, app, load_city, out, progress, say, settings
from api.services import stations as station_service
from geo.errors import InvalidLayer


@app.command()
def validate(data: DataOpt = None) -> None:
    """Check a data pack; print every problem, or a one-line summary when it is valid."""
    from geo.pack import demo_folder, read_pack

    folder = data or settings().data or demo_folder()
    try:
        pack = read_pack(folder, metric_crs=settings().metric_crs)
    except InvalidLayer as exc:
        for problem in exc.problems:
            say(problem)
        say(f"{len(exc.problems)} problem(s) in {folder}")
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
    city = load_city(data)
    n = len(table)
    if n > settings().progress_min_rows:
        with progress() as bar:
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
    say(
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
    from geo.pack import AMENITIES

    at = local_time(open_at)
    city = load_city(data)
    found = station_service.nearest(
        city,
        settings(),
        lon,
        lat,
        crs=crs,
        k=k,
        amenities=amenity,
        status=None if any_status else "open",
        open_only=open_at is not None,
        at=at,
    )
    if not found:
        say("no station matches")
        raise typer.Exit(1)
    table = Table(title=f"最近的驿站 (open at {at:%Y-%m-%d %H:%M})")
    for column in ("#", "站点", "名称", "距离(m)", "营业", "设施", "开放时间", "地址"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(found, start=1):
        station = hit.station
        table.add_row(
            str(rank),
            station["station_id"],
            station["name"],
            f"{hit.distance_m:,.0f}",
            "营业中" if hit.open_now else "休息",
            "、".join(AMENITIES.get(a, a) for a in station["amenities"]),
            station["opening_hours"],
            station["address"],
        )
    out.print(table)
