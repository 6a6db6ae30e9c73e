"""Planning on the command line: coverage, gaps, new sites and map pages, each asked of the
tips in a store (``--db``) or of the data pack's own tips."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from api.cli.app import OutOpt, PlanningArgs, app, err, load_city, out, planning_command, say
from api.cli.app import settings as get_settings
from api.services.planning import (
    PlanningQuery,
    build_gaps_page,
    categories_of,
    heat_weights,
    parse_when,
    plan_coverage,
    suggest_new_sites,
)
from api.services.tipsource import tip_store
from geo.city import City
from geo.coverage import Coverage
from geo.errors import YizhanError
from geo.io import output_format, write_frame, write_tables
from geo.sites import CandidateKind, Method


@contextmanager
def _planning(plan: PlanningArgs) -> Iterator[tuple[City, PlanningQuery, Coverage]]:
    """The city, the planning query and the coverage every planning command starts from."""
    city = load_city(plan.data)
    query = PlanningQuery(
        radius_m=plan.radius_m,
        metric=plan.metric,
        demand=plan.demand,
        since=parse_when(plan.since, "--since"),
        until=parse_when(plan.until, "--until"),
        categories=categories_of(plan.category, city),
    )
    with tip_store(city, plan.db) as store, err.status("计算覆盖…"):
        cov = plan_coverage(city, store, query)
    yield city, query, cov


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _metres(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _check_output(output: Path | None) -> None:
    if output is not None:
        output_format(output, tables=True)


@app.command()
@planning_command
def coverage(plan: PlanningArgs, output: OutOpt = None) -> None:
    """Station coverage of the city and of every subdistrict; -o writes the tables or cells."""
    _check_output(output)
    with _planning(plan) as (city, _, cov):
        summary = cov.summary()
        table = cov.by_subdistrict(city.subdistricts)
    metric = "路网" if cov.metric == "network" else "直线"
    shown = Table(title=f"驿站覆盖 (半径 {cov.radius_m:g} 米, {metric}距离)")
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
    say(f"wrote {output}")


@app.command()
@planning_command
def gaps(
    plan: PlanningArgs,
    top: Annotated[int, typer.Option("--top", min=1, help="How many cells to rank.")] = 20,
    output: OutOpt = None,
) -> None:
    """The worst-served grid cells by gap score, and the gaps summed per subdistrict."""
    from geo.coverage import gaps as rank_gaps
    from geo.coverage import gaps_by_subdistrict

    _check_output(output)
    with _planning(plan) as (city, _, cov):
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
    say(f"wrote {output}")


@app.command()
@planning_command
def suggest(
    plan: PlanningArgs,
    count: Annotated[int | None, typer.Option("--count", min=1, help="How many new sites.")] = None,
    target_share: Annotated[
        float | None,
        typer.Option("--target-share", help="Or: the fewest sites reaching this covered share."),
    ] = None,
    candidates: Annotated[
        CandidateKind, typer.Option("--candidates", help="cells (centroids) or streets.")
    ] = "cells",
    min_spacing_m: Annotated[
        float, typer.Option("--min-spacing-m", help="Candidates at least this far from stations.")
    ] = 300.0,
    method: Annotated[Method, typer.Option("--method", help="milp (optimal) or greedy.")] = "milp",
    output: OutOpt = None,
) -> None:
    """Where new stations would cover the most demand (maximal covering, solved by HiGHS)."""
    _check_output(output)
    with _planning(plan) as (city, _, cov), err.status("求解选址…"):
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
        say(f"wrote {output}")


MAP_KINDS = ("heatmap", "coverage", "gaps", "stations")


@app.command("map")
@planning_command
def make_map(
    plan: PlanningArgs,
    kind: Annotated[str, typer.Argument(help="heatmap, coverage, gaps or stations.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The .html file to write.")],
    top: Annotated[int, typer.Option("--top", min=1, help="gaps: cells to highlight.")] = 20,
    count: Annotated[int, typer.Option("--count", min=0, help="gaps: sites to suggest.")] = 5,
) -> None:
    """Write a map page: the tips heatmap, coverage, gaps, or the station finder."""
    if kind not in MAP_KINDS:
        raise YizhanError(f"map kind must be one of {', '.join(MAP_KINDS)}, got {kind!r}")
    if output.suffix.lower() not in (".html", ".htm"):
        raise YizhanError(f"output {str(output)!r}: a map is written as .html")
    if not output.resolve().parent.is_dir():
        raise YizhanError(f"output {str(output)!r}: folder does not exist")
    settings = get_settings()
    basemaps = settings.basemaps()
    if kind == "stations":
        from maps.finder import finder_page

        page = finder_page(
            load_city(plan.data),
            **basemaps,
            description_max_chars=settings.description_max_chars,
        )
    elif kind == "heatmap":
        from maps.heatmap import heatmap_page

        city = load_city(plan.data)
        spec = PlanningQuery(
            since=parse_when(plan.since, "--since"),
            until=parse_when(plan.until, "--until"),
            categories=categories_of(plan.category, city),
        ).spec()
        with tip_store(city, plan.db) as store:
            weights, aggregated = heat_weights(store, city, spec, raw_max=settings.heatmap_raw_max)
        page = heatmap_page(
            city, weights, aggregated=aggregated, categories=city.categories, **basemaps
        )
    else:
        from maps.coverage import coverage_page

        with _planning(plan) as (city, _, cov):
            if kind == "coverage":
                page = coverage_page(city, cov, **basemaps)
            else:
                with err.status("求解选址…"):
                    page = build_gaps_page(city, cov, settings, top=top, count=count, **basemaps)
    output.write_text(page, encoding="utf-8")
    say(f"wrote {output} ({len(page.encode()) / 1024:,.0f} KB)")
