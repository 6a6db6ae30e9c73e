"""Versioned migrations of the tip store (Alembic), run from Python on both backends.

The revisions live in ``migrations/versions`` inside this package and ship with it; there is no
``alembic.ini``. Opening a store brings it to the head revision. The upgrade runs in one
transaction under a lock, so that processes opening one store together migrate it once:
PostgreSQL's advisory lock, SQLite's write lock (``BEGIN IMMEDIATE``). A store at the head
takes no lock. A store made by release 0.1.0 has the table ``tips`` and no ``alembic_version``:
it is recognised as revision 1 (stamped, not re-created) and upgraded from there.

A new revision starts from ``script.py.mako``:
``alembic.command.revision(alembic_config(), "what it does", rev_id="0004")``; then add its
tables to :mod:`api.stores.schema`, which the tests compare with what the migrations build.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from api.stores.engines import Target, one_line, sqlite_transaction, target_for
from geo.errors import InvalidInput

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
REVISION_1 = "0001"  # the schema of release 0.1.0
_PG_LOCK = 0x59495A48414E  # "YIZHAN": one process at a time migrates a database


@dataclass(frozen=True)
class Revisions:
    """Where a store is: its revision (None when empty) and the head of the migrations."""

    current: str | None
    head: str

    @property
    def at_head(self) -> bool:
        return self.current == self.head


def alembic_config(**attributes) -> Config:
    """An Alembic configuration of the store's migrations; ``attributes`` reach ``env.py``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes.update(attributes)
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision of the migrations."""
    head = _script().get_current_head()
    assert head is not None  # the migrations ship with the package
    return head


def revisions(url: str) -> Revisions:
    """The current and head revisions of the store ``url`` names; it is not changed."""
    target = target_for(url)
    try:
        with _snapshot(target) as conn:
            return Revisions(current_revision(conn, target.backend), head_revision())
    except sa.exc.DBAPIError as e:
        raise InvalidInput(f"db {target.label!r}: {one_line(e, target.secret)}") from None
    finally:
        target.engine.dispose()


def upgrade(url: str, *, to: str = "head") -> list[str]:
    """Bring the store ``url`` names to revision ``to`` (the head by default); return the
    revisions applied, oldest first (none when it is there already)."""
    target = target_for(url)
    try:
        return upgrade_target(target, to=to)
    finally:
        target.engine.dispose()


def upgrade_target(target: Target, *, to: str = "head") -> list[str]:
    """:func:`upgrade` on an engine already made; its errors are one line."""
    known = [script.revision for script in _script().walk_revisions()]
    wanted = head_revision() if to == "head" else to
    if wanted not in known:
        raise InvalidInput(f"revision {to!r} is not one of {', '.join(reversed(known))}")
    try:
        with _snapshot(target) as conn:
            current = current_revision(conn, target.backend)
        if current is not None and current not in known:
            raise InvalidInput(
                f"db {target.label!r}: the store is at revision {current!r}, which this "
                f"Yizhan does not know (its newest is {known[0]}); run a newer Yizhan"
            )
        if current == wanted:
            return []
        with _locked(target) as conn:
            return _upgrade(conn, target, wanted)
    except CommandError as e:  # e.g. a revision older than the store's
        raise InvalidInput(f"db {target.label!r}: {one_line(e)}") from None
    except sa.exc.DBAPIError as e:
        raise InvalidInput(
            f"db {target.label!r}: cannot bring the store to revision {wanted}: "
            f"{one_line(e, target.secret)}"
        ) from None


def current_revision(conn: sa.Connection, backend: str) -> str | None:
    """The revision of the store on ``conn``: its ``alembic_version``, else revision 1 for a
    table ``tips`` of release 0.1.0, else None (an empty database)."""
    schema = _schema(conn, backend)
    context = MigrationContext.configure(conn, opts={"version_table_schema": schema})
    current = context.get_current_revision()
    if current is None and _is_release_0_1_0(conn, backend, schema):
        return REVISION_1
    return current


@contextmanager
def _snapshot(target: Target):
    """A connection whose reads all see one state of the database: the version table and the
    table tips are read apart, and another process may finish a migration in between."""
    with target.engine.connect() as conn:
        if target.backend == "postgis":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
        else:
            with sqlite_transaction(conn, "DEFERRED"):
                yield conn


@contextmanager
def _locked(target: Target):
    """A connection in a transaction that holds the migration lock."""
    with target.engine.connect() as conn:
        if target.backend == "postgis":
            conn = conn.execution_options(isolation_level="READ COMMITTED")
            with conn.begin():
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK)))
                yield conn
        else:
            with sqlite_transaction(conn, "IMMEDIATE"):
                yield conn


def _upgrade(conn: sa.Connection, target: Target, wanted: str) -> list[str]:
    if target.backend == "postgis":
        _enable_postgis(conn, target)
    current = current_revision(conn, target.backend)  # again: another process may have done it
    if current == wanted:
        return []
    applied: list[str] = []
    config = alembic_config(
        connection=conn,
        backend=target.backend,
        version_table_schema=_schema(conn, target.backend),
        on_version_apply=lambda step, **_: applied.append(step.up_revision_id),
    )
    if current == REVISION_1 and not _has_version_table(conn, target.backend):
        command.stamp(config, REVISION_1)
        applied.clear()  # stamped, not applied
    command.upgrade(config, wanted)
    return applied


def _enable_postgis(conn: sa.Connection, target: Target) -> None:
    if conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first():
        return
    try:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    except sa.exc.DBAPIError as e:
        raise InvalidInput(
            f"db URL {target.label!r}: cannot enable PostGIS ({one_line(e, target.secret)}); "
            "as a superuser run CREATE EXTENSION postgis in that database"
        ) from None


def _schema(conn: sa.Connection, backend: str) -> str | None:
    """Where the store's tables are: PostgreSQL's current schema (the first of the
    ``search_path`` that exists), so that a table of the same name further on is never taken
    for the store's; SQLite's main database."""
    if backend != "postgis":
        return None
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
    if schema is None:
        raise InvalidInput("db: no schema of the search_path exists to hold the store's tables")
    return schema


def _has_version_table(conn: sa.Connection, backend: str) -> bool:
    return sa.inspect(conn).has_table("alembic_version", schema=_schema(conn, backend))


def _is_release_0_1_0(conn: sa.Connection, backend: str, schema: str | None) -> bool:
    inspector = sa.inspect(conn)
    if not inspector.has_table("tips", schema=schema):
        return False
    found = {c["name"] for c in inspector.get_columns("tips", schema=schema)}
    expected = _script().get_revision(REVISION_1).module.COLUMNS[backend]
    if found != expected:
        raise InvalidInput(
            "db: the table tips has no alembic_version and is not the table of Yizhan 0.1.0 "
            f"(columns {', '.join(sorted(found ^ expected))} differ); "
            "use an empty database or schema"
        )
    return True
