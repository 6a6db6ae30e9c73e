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
    return get_settings().load_city(data)


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
    from api.stores import open_store

    settings = get_settings()
    updates = {"host": host, "port": port, "data": data, "db": db}
    settings = settings.model_copy(update={k: v for k, v in updates.items() if v is not None})
    # fail fast, with one line, before the server starts
    city = settings.load_city()
    open_store(settings.db).close()
    _say(f"Yizhan on http://{settings.host}:{settings.port}/  (API docs at /docs)")
    uvicorn.run(
        create_app(settings, city=city), host=settings.host, port=settings.port, log_level="info"
    )


RadiusOpt = Annotated[
    str, typer.Option("--radius-m", help="Covered within this many metres, or walk15 / ride15.")
]
MetricOpt = Annotated[
    str, typer.Option("--metric", help="euclidean (straight line) or network (along streets).")
]
DemandOpt = Annotated[
    str,
    typer.Option("--demand", help="tips, households, population or tips:0.7,households:0.3."),
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Count tips reported at or after (local time).")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Count tips reported before (local time).")
]
CategoryOpt = Annotated[
    list[str] | None, typer.Option("--category", help="Count only this category; repeatable.")
]
TipsDbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Count the tips in this store (default: the data pack's tips)."),
]
OutOpt = Annotated[
    Path | None,
    typer.Option("-o", "--output", help="Write to .csv, .xlsx, .geojson, .gpkg or .parquet."),
]


def _planning(data, db, radius_m, metric, demand, since, until, category):
    """The city, the planning query and the coverage every planning verb starts from."""
    from api.planning import (
        PlanningQuery,
        categories_of,
        counts_from_pack,
        counts_from_store,
        parse_when,
        plan_coverage,
    )
    from api.stores import open_store

    city = _city(data)
    query = PlanningQuery(
        radius_m=radius_m,
        metric=metric,
        demand=demand,
        since=parse_when(since, "--since"),
        until=parse_when(until, "--until"),
        categories=categories_of(category, city),
    )
    if db is None:
        counts = counts_from_pack(city, query.spec())
    else:
        store = open_store(db)
        try:
            counts = counts_from_store(store, query.spec())
        finally:
            store.close()
    with err.status("计算覆盖…"):
        cov = plan_coverage(city, counts, query)
    return city, query, cov


def _share(value) -> str:
    return "—" if value is None else f"{value:.1%}"


def _metres(value) -> str:
    return "—" if value is None else f"{value:,.0f}"


@app.command()
def coverage(
    radius_m: RadiusOpt = "1000",
    metric: MetricOpt = "euclidean",
    demand: DemandOpt = "tips",
    since: SinceOpt = None,
    until: UntilOpt = None,
    category: CategoryOpt = None,
    data: DataOpt = None,
    db: TipsDbOpt = None,
    output: OutOpt = None,
) -> None:
    """Station coverage of the city and of every subdistrict; -o writes the tables or cells."""
    import pandas as pd

    from geo.io import output_format, write_frame, write_tables

    if output is not None:
        output_format(output, tables=True)
    city, query, cov = _planning(data, db, radius_m, metric, demand, since, until, category)
    summary = cov.summary()
    table = cov.by_subdistrict(city.subdistricts)
    title = (
        f"驿站覆盖 (半径 {cov.radius_m:g} 米, {'路网' if cov.metric == 'network' else '直线'}距离)"
    )
    shown = Table(title=title)
    for column in ("街道", "网格", "已覆盖", "需求覆盖", "人口覆盖", "中位距离(m)", "P90(m)"):
        shown.add_column(column, justify="left" if column == "街道" else "right")
    for row in [*table.to_dict(orient="records"), {"name": "全市", **summary}]:
        people = row["people_covered"] / row["people"] if row["people"] else None
        shown.add_row(
            row["name"],
            str(row["cells"]),
            str(row["cells_covered"]),
            _share(row["demand_covered_share"]),
            _share(people),
            _metres(row["median_distance_m"]),
            _metres(row["p90_distance_m"]),
        )
    out.print(shown)
    if output is None:
        return
    if output.suffix.lower() in (".csv", ".xlsx"):
        city_row = pd.DataFrame([{"subdistrict_code": "", "name": "全市", **summary}])
        write_tables({"全市": city_row, "街道": table}, output)
    else:
        write_frame(cov.cells, output)
    _say(f"wrote {output}")


@app.command()
def gaps(
    top: Annotated[int, typer.Option("--top", min=1, help="How many cells to rank.")] = 20,
    radius_m: RadiusOpt = "1000",
    metric: MetricOpt = "euclidean",
    demand: DemandOpt = "tips",
    since: SinceOpt = None,
    until: UntilOpt = None,
    category: CategoryOpt = None,
    data: DataOpt = None,
    db: TipsDbOpt = None,
    output: OutOpt = None,
) -> None:
    """The worst-served grid cells by gap score, and the gaps summed per subdistrict."""
    from geo.coverage import gaps as rank_gaps
    from geo.coverage import gaps_by_subdistrict
    from geo.io import output_format, write_frame, write_tables

    if output is not None:
        output_format(output, tables=True)
    city, query, cov = _planning(data, db, radius_m, metric, demand, since, until, category)
    ranked = rank_gaps(cov, top=top)
    per_sub = gaps_by_subdistrict(cov, city.subdistricts)
    shown = Table(title=f"覆盖缺口 (半径 {cov.radius_m:g} 米)")
    for column in ("#", "网格", "网格代码", "需求", "最近驿站距离(m)", "缺口得分"):
        shown.add_column(column, justify="right" if column != "网格" else "left")
    for row in ranked.itertuples():
        shown.add_row(
            str(row.rank),
            row.name,
            row.grid_code,
            f"{row.demand:g}",
            _metres(row.distance_m),
            f"{row.gap_score:.2f}",
        )
    out.print(shown)
    if output is None:
        return
    if output.suffix.lower() in (".csv", ".xlsx"):
        write_tables({"网格": ranked.drop(columns="geometry"), "街道": per_sub}, output)
    else:
        write_frame(ranked, output)
    _say(f"wrote {output}")


@app.command()
def suggest(
    count: Annotated[int | None, typer.Option("--count", min=1, help="How many new sites.")] = None,
    target_share: Annotated[
        float | None,
        typer.Option("--target-share", help="Or: the fewest sites reaching this covered share."),
    ] = None,
    candidates: Annotated[
        str, typer.Option("--candidates", help="cells (centroids) or streets.")
    ] = "cells",
    min_spacing_m: Annotated[
        float, typer.Option("--min-spacing-m", help="Candidates at least this far from stations.")
    ] = 300.0,
    method: Annotated[str, typer.Option("--method", help="milp (optimal) or greedy.")] = "milp",
    radius_m: RadiusOpt = "1000",
    metric: MetricOpt = "euclidean",
    demand: DemandOpt = "tips",
    since: SinceOpt = None,
    until: UntilOpt = None,
    category: CategoryOpt = None,
    data: DataOpt = None,
    db: TipsDbOpt = None,
    output: OutOpt = None,
) -> None:
    """Where new stations would cover the most demand (maximal covering, solved by HiGHS)."""
    from api.planning import suggest_new_sites
    from geo.io import output_format, write_frame

    if output is not None:
        output_format(output, tables=True)
    city, query, cov = _planning(data, db, radius_m, metric, demand, since, until, category)
    with err.status("求解选址…"):
        result = suggest_new_sites(
            city,
            cov,
            get_settings(),
            count=count,
            target_share=target_share,
            candidates=candidates,
            min_spacing_m=min_spacing_m,
            method=method,
        )
    answer = "最优解" if result.optimal else "近似解"
    shown = Table(
        title=f"建议新增驿站 ({answer}, {result.solver}): 需求覆盖 "
        f"{_share(result.before['demand_covered_share'])} → "
        f"{_share(result.after['demand_covered_share'])}"
    )
    for column in ("#", "新增覆盖需求", "网格", "街道", "最近道路", "经度", "纬度"):
        shown.add_column(column, justify="right" if column in ("#", "新增覆盖需求") else "left")
    for row in result.sites.itertuples():
        shown.add_row(
            str(row.rank),
            f"{row.added_demand:g}",
            str(row.grid_code),
            str(row.subdistrict_code),
            str(row.street_name),
            f"{row.lon:.6f}",
            f"{row.lat:.6f}",
        )
    out.print(shown)
    if output is not None:
        write_frame(result.sites, output)
        _say(f"wrote {output}")


MAP_KINDS = ("heatmap", "coverage", "gaps", "stations")


@app.command("map")
def make_map(
    kind: Annotated[str, typer.Argument(help="heatmap, coverage, gaps or stations.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The .html file to write.")],
    top: Annotated[int, typer.Option("--top", min=1, help="gaps: cells to highlight.")] = 20,
    count: Annotated[int, typer.Option("--count", min=0, help="gaps: sites to suggest.")] = 5,
    radius_m: RadiusOpt = "1000",
    metric: MetricOpt = "euclidean",
    demand: DemandOpt = "tips",
    since: SinceOpt = None,
    until: UntilOpt = None,
    category: CategoryOpt = None,
    data: DataOpt = None,
    db: TipsDbOpt = None,
) -> None:
    """Write a map page: the tips heatmap, coverage, gaps, or the station finder."""
    if kind not in MAP_KINDS:
        raise YizhanError(f"map kind must be one of {', '.join(MAP_KINDS)}, got {kind!r}")
    if output.suffix.lower() not in (".html", ".htm"):
        raise YizhanError(f"output {str(output)!r}: a map is written as .html")
    if not output.resolve().parent.is_dir():
        raise YizhanError(f"output {str(output)!r}: folder does not exist")
    settings = get_settings()
    if kind == "stations":
        from maps.finder import finder_page

        page = finder_page(
            _city(data),
            basemap=settings.basemap,
            tianditu_key=settings.tianditu_key,
            tile_url_osm=settings.tile_url_osm,
        )
    elif kind == "heatmap":
        page = _heatmap(data, db, since, until, category, settings)
    else:
        from api.planning import build_gaps_page
        from maps.planning import coverage_page

        city, query, cov = _planning(data, db, radius_m, metric, demand, since, until, category)
        if kind == "coverage":
            page = coverage_page(city, cov)
        else:
            with err.status("求解选址…"):
                page = build_gaps_page(city, cov, settings, top=top, count=count)
    output.write_text(page, encoding="utf-8")
    _say(f"wrote {output} ({len(page.encode()) / 1024:,.0f} KB)")


def _heatmap(data, db, since, until, category, settings) -> str:
    from api.planning import (
        categories_of,
        heat_weights_from_store,
        heat_weights_from_tips,
        parse_when,
    )
    from api.stores import open_store
    from geo.coverage import DemandSpec
    from maps.planning import heatmap_page

    city = _city(data)
    spec = DemandSpec(
        since=parse_when(since, "--since"),
        until=parse_when(until, "--until"),
        categories=categories_of(category, city),
    )
    if db is None:
        weights, aggregated = heat_weights_from_tips(
            city, city.pack_tips, spec, raw_max=settings.heatmap_raw_max
        )
    else:
        store = open_store(db)
        try:
            weights, aggregated = heat_weights_from_store(
                store, city, spec, raw_max=settings.heatmap_raw_max
            )
        finally:
            store.close()
    return heatmap_page(city, weights, aggregated=aggregated, categories=city.categories)


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
