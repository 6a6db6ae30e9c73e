"""The rules the pack's tables keep: the units (处置单位) that handle cases, and the deadlines
(SLA limits) of a case's steps.

``units.csv`` has one row per unit: ``unit_id``, ``name``, and the ``categories`` and
``subdistricts`` it serves, each a ``;``-separated list of codes or ``*`` for all. ``sla.csv``
has one row per ``step``, ``category`` (a code or ``*``) and ``urgency``, with the limit in
``minutes``; every step and urgency needs a ``*`` row, so that every category has a limit.
Rows are counted from the first row under the header, as in every other file of a pack.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from geo.pack.readers import Problems, ident
from geo.pack.rules import check_ids
from geo.pack.schema import ANY, SLA_MAX_MINUTES, STEPS, URGENCIES


def parse_codes(value: object) -> tuple[str, ...]:
    """The codes of a ``;``-separated list, stripped, without repeats, in order (``*`` stays
    ``("*",)``)."""
    parts = (p.strip() for p in str(value).split(";"))
    return tuple(dict.fromkeys(p for p in parts if p))


def _stripped(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    for column in table.columns:
        table[column] = table[column].astype(str).str.strip()
    return table


def check_units(
    table: pd.DataFrame,
    path: Path,
    categories: pd.DataFrame,
    subdistricts: pd.DataFrame,
    problems: Problems,
) -> pd.DataFrame:
    """Unique, non-empty ``unit_id`` and ``name``; every category code in the category table
    and every subdistrict code in the subdistricts layer. ``categories`` and ``subdistricts``
    come back as tuples of codes (``("*",)`` for all)."""
    table = _stripped(table).reset_index(drop=True)
    if table.empty:
        problems.add(
            f"{path.name}: no units; give at least one row, e.g. U00,城市管理综合执法大队,*,*"
        )
        return table
    check_ids(table, path, "unit_id", problems)
    known = {
        "categories": list(categories["code"].astype(str)),
        "subdistricts": list(subdistricts["subdistrict_code"].astype(str)),
    }
    what = {"categories": "category", "subdistricts": "subdistrict"}
    parsed: dict[str, list[tuple[str, ...]]] = {"categories": [], "subdistricts": []}
    for row in range(len(table)):
        where = f"{path.name} row {row + 1}{ident(table, 'unit_id', row)}"
        if table["name"].iloc[row] == "":
            problems.add(f"{where}: name is empty")
        for column, codes_known in known.items():
            codes = parse_codes(table[column].iloc[row])
            parsed[column].append(codes)
            if not codes:
                problems.add(f"{where}: {column} is empty (codes separated by ;, or * for all)")
            elif ANY in codes and len(codes) > 1:
                problems.add(f"{where}: {column}: * means all and stands alone")
            elif codes != (ANY,):
                unknown = [c for c in codes if c not in codes_known]
                if unknown:
                    problems.add(
                        f"{where}: unknown {what[column]} code(s) "
                        f"{', '.join(map(repr, unknown))}; known: {', '.join(codes_known)}"
                    )
    for column, values in parsed.items():
        table[column] = pd.Series(values, index=table.index, dtype=object)
    return table


def check_sla(
    table: pd.DataFrame, path: Path, categories: pd.DataFrame, problems: Problems
) -> pd.DataFrame:
    """Known steps, urgencies and categories; whole positive minutes; one row per step,
    category and urgency; a ``*`` row for every step and urgency. ``minutes`` comes back as
    integers."""
    table = _stripped(table).reset_index(drop=True)
    table["step"] = table["step"].str.lower()
    table["urgency"] = table["urgency"].str.lower()
    known = list(categories["code"].astype(str))
    minutes: list[int] = []
    first: dict[tuple[str, str, str], int] = {}
    for row in range(len(table)):
        where = f"{path.name} row {row + 1}"
        step, category, urgency, text = (
            table[c].iloc[row] for c in ("step", "category", "urgency", "minutes")
        )
        if step not in STEPS:
            problems.add(f"{where}: step {step!r} is not one of {', '.join(STEPS)}")
        if urgency not in URGENCIES:
            problems.add(f"{where}: urgency {urgency!r} is not one of {', '.join(URGENCIES)}")
        if category != ANY and category not in known:
            problems.add(f"{where}: unknown category {category!r}; known: {', '.join(known)} or *")
        value = int(text) if text.isascii() and text.isdigit() else 0
        if not 0 < value <= SLA_MAX_MINUTES:
            problems.add(
                f"{where}: minutes {text!r} is not a whole number from 1 to {SLA_MAX_MINUTES} "
                "(a year)"
            )
        minutes.append(value)
        key = (step, category, urgency)
        if key in first:
            problems.add(
                f"{where}: duplicate limit for step {step}, category {category}, urgency "
                f"{urgency} (first at row {first[key] + 1})"
            )
        else:
            first[key] = row
    for step in STEPS:
        for urgency in URGENCIES:
            if (step, ANY, urgency) not in first:
                problems.add(
                    f"{path.name}: no * row for step {step}, urgency {urgency}: every category "
                    f"needs a limit (add {step},*,{urgency},<minutes>)"
                )
    table["minutes"] = pd.Series(minutes, index=table.index, dtype="int64")
    return table
