"""Cases from other systems (the 12345 hotline, grid workers), imported in bulk from a CSV or a
GeoJSON file, for the command line and the API alike.

Every row is a case with an ``external_id`` in its ``source`` (a column, or one source for the
whole file), a ``reported_at`` time, a known ``category`` and a position; ``description`` is
optional. A row's tip id is derived from (source, external_id), so a file imported twice adds
nothing the second time: rows already there are counted, not changed. Rows are assigned like
live tips (:func:`geo.assign.assign_points`) and stored through the same bulk path as a data
pack's tips (:func:`api.services.intake.tip_records`, :meth:`Store.import_tips`); each case
enters ``reported`` with its register deadline counted from ``reported_at``
(:func:`api.services.cases.new_case`). A file with any bad row is refused whole, one message
per bad row naming the row and the field, and nothing is stored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from api.services.cases import new_case
from api.services.intake import tip_records, too_far
from api.settings import Settings
from api.stores import Store
from geo.assign import assign_points
from geo.city import City
from geo.errors import InvalidInput, InvalidLayer
from geo.io import Points, parse_points
from geo.pack import parse_timestamps

Format = Literal["csv", "geojson"]
SOURCE = re.compile(r"[a-z][a-z0-9_]{0,31}")
EXTERNAL_ID_MAX_CHARS = 128
REQUIRED = ("external_id", "reported_at", "category")
# rows between two progress calls while deadlines are set
PROGRESS_EVERY = 10_000


@dataclass(frozen=True)
class ImportResult:
    """What an import did: rows read, cases added, and rows whose case was there already."""

    rows: int
    added: int
    existing: int


def case_tip_id(source: str, external_id: str) -> str:
    """The tip id of an imported case: the same for the same (source, external_id), always.
    80 bits of SHA-256: a million cases of one source meet a repeated id about once in 10^12."""
    digest = hashlib.sha256(f"{source}\n{external_id}".encode()).hexdigest()[:20]
    return f"I-{source}-{digest}"


def read_cases(data: bytes, *, fmt: Format, crs: str | None = None, name: str = "body") -> Points:
    """A file of cases as a table of points (:func:`geo.io.parse_points`)."""
    return parse_points(data, fmt=fmt, crs=crs, name=name)


def import_cases(
    city: City,
    store: Store,
    settings: Settings,
    points: Points,
    *,
    source: str | None = None,
    name: str = "body",
    scope: tuple[str, ...] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Check every row of ``points`` (from :func:`read_cases` or :func:`geo.io.read_points`)
    and store the cases not stored yet, in one transaction.

    ``source`` is the source of rows without a ``source`` column (or with it empty); ``scope``
    the subdistricts an account may import into (None: all). ``progress`` is called with the
    rows done, twice per row: once assigned, once given its deadline.

    Raises
    ------
    InvalidLayer
        The file cannot be used, or rows have problems: one message per row, ``<name> row <n>:
        <field>: <problem>; ...`` (row 1 is the first row under a CSV's header, or the first
        feature), and nothing is stored.
    """
    table, lon, lat, problem = points
    if source is not None and not SOURCE.fullmatch(source):
        raise InvalidInput(f"source: {source!r} is not a code like hotline_12345 (a-z, 0-9, _)")
    if len(table) == 0:
        return ImportResult(rows=0, added=0, existing=0)  # (a GeoJSON file then has no columns)
    missing = [c for c in REQUIRED if c not in table.columns]
    if "source" not in table.columns and source is None:
        missing.append("source (or give one source for the file)")
    if missing:
        raise InvalidLayer(f"{name}: missing column(s) {', '.join(missing)}")
    n = len(table)
    text = {
        c: table[c].astype(str).str.strip().to_numpy(dtype=object)
        if c in table.columns
        else np.full(n, "", dtype=object)
        for c in ("external_id", "source", "reported_at", "category", "description")
    }
    sources = np.where(text["source"] == "", source or "", text["source"])
    reported = parse_timestamps(pd.Series(text["reported_at"]), strict=False)
    assigned = assign_points(city, lon, lat, progress=progress)
    issues: list[list[str]] = [[] for _ in range(n)]
    _check_rows(city, settings, text, sources, reported, assigned, problem, scope, issues)
    refused = [f"{name} row {i + 1}: {'; '.join(found)}" for i, found in enumerate(issues) if found]
    if refused:
        raise InvalidLayer(refused)

    ids = [case_tip_id(s, e) for s, e in zip(sources, text["external_id"], strict=True)]
    rows = pd.DataFrame(
        {
            "tip_id": ids,
            "reported_at": [t.isoformat() for t in reported],
            "category": text["category"],
            "description": text["description"],
            "reporter_id": "",
            "status": "open",
        }
    )
    records = tip_records(rows, assigned, lon, lat)
    for i, record in enumerate(records):
        record["case"] = {
            **new_case(city, settings, record, source=str(sources[i])),
            "external_id": text["external_id"][i],
        }
        if progress is not None and (i + 1) % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
    if progress is not None and n % PROGRESS_EVERY:
        progress(n % PROGRESS_EVERY)
    added = store.import_tips(records)
    return ImportResult(rows=n, added=added, existing=n - added)


def _check_rows(
    city: City,
    settings: Settings,
    text: dict[str, np.ndarray],
    sources: np.ndarray,
    reported: pd.Series,
    assigned: pd.DataFrame,
    problem: np.ndarray,
    scope: tuple[str, ...] | None,
    issues: list[list[str]],
) -> None:
    """Add every row's problems to ``issues``, each naming its field."""
    codes = city.categories["code"].astype(str).tolist()
    known = set(codes)
    far = too_far(assigned, settings)
    first: dict[tuple[str, str], int] = {}
    for i in range(len(issues)):
        found = issues[i]
        external_id, src = text["external_id"][i], sources[i]
        if not external_id:
            found.append("external_id: missing")
        elif len(external_id) > EXTERNAL_ID_MAX_CHARS:
            found.append(f"external_id: longer than {EXTERNAL_ID_MAX_CHARS} characters")
        if not src:
            found.append("source: missing (a source column, or one source for the file)")
        elif not SOURCE.fullmatch(src):
            found.append(f"source: {src!r} is not a code like hotline_12345 (a-z, 0-9, _)")
        if external_id and src:
            seen = first.setdefault((src, external_id), i)
            if seen != i:
                found.append(f"external_id: {external_id!r} of {src} repeats row {seen + 1}")
        when = reported.iloc[i]
        if not text["reported_at"][i]:
            found.append("reported_at: missing")
        elif pd.isna(when):
            found.append(f"reported_at: {text['reported_at'][i]!r} is not an ISO 8601 date-time")
        elif when.nanosecond:
            found.append(f"reported_at: {text['reported_at'][i]!r} is finer than a microsecond")
        category = text["category"][i]
        if category not in known:
            shown = repr(category) if category else "missing"
            found.append(f"category: {shown} is not one of {', '.join(codes)}")
        description = text["description"][i]
        if len(description) > settings.description_max_chars:
            found.append(
                f"description: {len(description)} characters is longer than "
                f"{settings.description_max_chars} (YIZHAN_DESCRIPTION_MAX_CHARS)"
            )
        if any("\x00" in text[c][i] for c in text):
            found.append("a field contains a NUL character (\\u0000)")
        if problem[i]:
            found.append(_position_problem(problem[i]))
        elif far[i]:
            km = assigned["street_distance_m"].iloc[i] / 1000
            found.append(
                f"lon/lat: {km:.1f} km from the city "
                f"(YIZHAN_TIP_MAX_OUTSIDE_M={settings.tip_max_outside_m:g})"
            )
        elif scope is not None and assigned["subdistrict_code"].iloc[i] not in scope:
            where = assigned["subdistrict_code"].iloc[i] or "outside every subdistrict"
            found.append(f"subdistrict: {where} is outside this account's subdistricts")


def _position_problem(text: str) -> str:
    """A reader's problem with a row's position, led by the field it is about."""
    if text == "missing lon/lat":
        return "lon/lat: missing"
    if text.startswith("lon/lat "):
        return "lon/lat: " + text.removeprefix("lon/lat ")
    if text.startswith("geometry is "):
        return "geometry: " + text.removeprefix("geometry is ")
    return f"geometry: {text}"
