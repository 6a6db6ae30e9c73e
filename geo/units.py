"""Which unit (处置单位) a case goes to: the pack's units table, matched on the case's category
and subdistrict."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from geo.pack.schema import ANY


def _serves(codes: Sequence[str], code: str) -> int | None:
    """How specifically ``codes`` serve ``code``: 1 by name, 0 through ``*``, None not at all."""
    if code in codes:
        return 1
    return 0 if ANY in codes else None


def route_unit(units: pd.DataFrame, *, category: str, subdistrict_code: str | None) -> str | None:
    """The suggested unit for a case: the ``unit_id`` of the unit that serves both the case's
    ``category`` and its subdistrict.

    Of several, the most specific wins: a code named beats ``*``, the subdistrict first, then
    the category (a unit named for the subdistrict that serves every category beats a city-wide
    unit named for the category); ties go to the unit listed first.

    Parameters
    ----------
    units : DataFrame
        The units table (``city.units``): ``unit_id`` and ``categories`` and ``subdistricts``
        as sequences of codes, ``("*",)`` for all.
    category : str
        The case's category code.
    subdistrict_code : str or None
        The case's subdistrict; ``None`` for a tip outside every subdistrict.

    Returns
    -------
    str or None
        The ``unit_id``, or ``None`` when no unit serves the case or it has no subdistrict (the
        dispatcher chooses).
    """
    if subdistrict_code is None:
        return None
    best: tuple[int, int] | None = None
    chosen: str | None = None
    columns = (units[c].tolist() for c in ("unit_id", "categories", "subdistricts"))
    rows = zip(*columns, strict=True)
    for unit_id, categories, subdistricts in rows:
        by_subdistrict = _serves(subdistricts, subdistrict_code)
        by_category = _serves(categories, category)
        if by_subdistrict is None or by_category is None:
            continue
        score = (by_subdistrict, by_category)
        if best is None or score > best:
            best, chosen = score, str(unit_id)
            if score == (1, 1):
                break  # nothing is more specific, and a later tie loses
    return chosen
