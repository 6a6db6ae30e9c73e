"""Tip storage behind one small interface: SQLite (embedded, the default) or PostGIS.

``open_store(url)`` connects, brings the schema to the head revision of the migrations
(:mod:`api.stores.migrate`) and returns a :class:`Store`. One schema (:mod:`api.stores.schema`)
and one implementation (:mod:`api.stores.sql`) serve both backends.
"""

from __future__ import annotations

import sqlalchemy as sa

from api.stores.contract import (
    CASE_COLUMNS,
    GROUP_KEYS,
    METRIC_COUNTS,
    METRIC_KEYS,
    TIP_COLUMNS,
    AlreadyConfirmed,
    CaseConflict,
    CaseQuery,
    IdempotencyConflict,
    MetricsQuery,
    NearbyQuery,
    Store,
    TipQuery,
)
from api.stores.engines import one_line, redact, target_for
from api.stores.migrate import Revisions, revisions, upgrade, upgrade_target
from api.stores.sql import SQLStore
from geo.errors import InvalidInput

__all__ = [
    "CASE_COLUMNS",
    "GROUP_KEYS",
    "METRIC_COUNTS",
    "METRIC_KEYS",
    "TIP_COLUMNS",
    "AlreadyConfirmed",
    "CaseConflict",
    "CaseQuery",
    "IdempotencyConflict",
    "NearbyQuery",
    "MetricsQuery",
    "Revisions",
    "Store",
    "TipQuery",
    "open_store",
    "redact",
    "revisions",
    "upgrade",
]


def open_store(url: str) -> Store:
    """Open the store a URL names (``sqlite:///path.db`` or ``postgresql://...``), upgraded to
    the head revision; a URL that cannot work raises :class:`InvalidInput` with one line."""
    target = target_for(url)
    try:
        try:  # fails here, with one line, if the URL is no good
            target.engine.connect().close()
        except sa.exc.DBAPIError as e:
            if target.backend == "sqlite":
                raise InvalidInput(
                    f"db: cannot open the SQLite file {target.label!r} ({one_line(e)})"
                ) from None
            raise InvalidInput(
                f"db URL {target.label!r}: cannot connect to PostgreSQL: "
                f"{one_line(e, target.secret)}"
            ) from None
        upgrade_target(target)
    except BaseException:
        target.engine.dispose()
        raise
    return SQLStore(target)
