"""From a store URL to a SQLAlchemy engine, with one-line errors for URLs that cannot work.

SQLite (``sqlite:///rel.db``, ``sqlite:////abs.db``, ``sqlite:///:memory:``): every pooled
connection runs in WAL mode with ``synchronous=FULL`` (durable at commit) and a busy timeout.
The driver begins no transaction itself, so a lone statement is its own transaction;
:func:`sqlite_transaction` begins one with ``BEGIN IMMEDIATE`` for writes, which takes the write
lock up front: two writers then wait for each other instead of deadlocking when a reader
upgrades. ``:memory:`` is one database for the whole process: a single connection
(``StaticPool``) that the store must use one thread at a time.

PostgreSQL (``postgresql://``, ``postgres://``, ``postgis://``, ``postgresql+psycopg://``): the
URL goes to libpq as it is (psycopg 3, SQLAlchemy's ``postgresql+psycopg`` dialect), with
``synchronous_commit=on`` for every connection. SQLAlchemy's pool (pre-ping on checkout) holds
up to 8 connections per process. Connections are in autocommit: one statement is one
transaction; several statements ask for a transaction with an ``isolation_level`` option.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlparse, urlsplit

import sqlalchemy as sa
from sqlalchemy.pool import QueuePool, StaticPool

from geo.errors import InvalidInput

PG_SCHEMES = ("postgresql", "postgres", "postgis", "postgresql+psycopg")
SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_POOL_SIZE = 8
PG_POOL_TIMEOUT_S = 30.0
PG_CONNECT_TIMEOUT_S = 10


@dataclass
class Target:
    """A store URL made ready to open: its backend, engine and what messages may show of it."""

    backend: str  # "sqlite" or "postgis"
    engine: sa.Engine
    label: str  # the URL without its password, or the SQLite path
    secret: str | None = None  # the password, to be cut from error messages
    memory: bool = False


def redact(url: str) -> str:
    """``url`` without its password (in the user part or a ``password=`` parameter)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            user, host = netloc.rsplit("@", 1)
            netloc = f"{user.split(':', 1)[0]}@{host}"
        query = urlencode(
            [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"],
            safe="/,:",
        )
        return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
    except ValueError:
        return "<unparsable URL>"


def one_line(error: BaseException, secret: str | None = None) -> str:
    """An error's message on one line, without ``secret``."""
    error = getattr(error, "orig", None) or error  # a DBAPI error wrapped by SQLAlchemy
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    if secret:
        text = text.replace(secret, "***")
    return text or type(error).__name__


def target_for(url: str) -> Target:
    """The backend and engine a URL names; :class:`InvalidInput` for one that cannot work."""
    scheme = urlparse(url).scheme.lower()
    if scheme == "sqlite":
        return _sqlite(url)
    if scheme in PG_SCHEMES:
        return _postgis(url)
    raise InvalidInput(
        f"db URL {redact(url)!r} is not supported; "
        "use sqlite:///path.db or postgresql://user@host/db"
    )


# -- SQLite ------------------------------------------------------------------------------------


def sqlite_path(url: str) -> str:
    """The file a ``sqlite:///`` URL names (or ``:memory:``); its folder must exist."""
    rest = url.split(":", 1)[1]
    if not rest.startswith("///"):
        raise InvalidInput(f"db URL {url!r}: write sqlite:///path/to/file.db")
    path = unquote(rest[3:])
    if path != ":memory:":
        parent = Path(path).expanduser().resolve().parent
        if not parent.is_dir():
            raise InvalidInput(f"db URL {url!r}: folder {str(parent)!r} does not exist")
    return path


def _sqlite(url: str) -> Target:
    path = sqlite_path(url)
    memory = path == ":memory:"

    def connect() -> sqlite3.Connection:
        # isolation_level=None: the driver begins nothing; see sqlite_transaction
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if not memory:
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        except BaseException:
            conn.close()
            raise
        return conn

    pool: dict[str, Any]
    if memory:
        pool = {"poolclass": StaticPool}
    else:
        pool = {"poolclass": QueuePool, "pool_size": 8, "max_overflow": 8, "pool_timeout": 30}
    # No engine events: one listener makes SQLAlchemy dispatch events around every statement
    # (measured: 38 % of the store's Python calls per tip).
    engine = sa.create_engine("sqlite+pysqlite://", creator=connect, **pool)
    return Target("sqlite", engine, path, memory=memory)


@contextmanager
def sqlite_transaction(conn: sa.Connection, mode: str = "IMMEDIATE"):
    """A transaction on a SQLite connection that begins with ``BEGIN <mode>``; committed at
    the end of the block (the driver's commit), rolled back on an error."""
    with conn.begin():
        # straight to the driver: SQLAlchemy does not track this BEGIN, the driver's commit
        # and rollback end it
        driver = conn.connection.driver_connection
        assert driver is not None  # a live pooled connection
        driver.execute(f"BEGIN {mode}")
        yield conn


# -- PostgreSQL --------------------------------------------------------------------------------


def _postgis(url: str) -> Target:
    label = redact(url)
    try:
        import psycopg
        from psycopg import conninfo as pg_conninfo
    except ImportError:  # pragma: no cover - depends on the installation
        raise InvalidInput(
            f"db URL {label!r}: PostGIS needs psycopg 3; pip install 'yizhan[postgis]'"
        ) from None
    conninfo = "postgresql:" + url.split(":", 1)[1]
    try:
        params = pg_conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error as e:
        raise InvalidInput(f"db URL {label!r}: {one_line(e)}") from None
    extra: dict[str, Any] = {
        # durable at commit, whatever the server's default; the last -c wins
        "options": " ".join(
            filter(None, [str(params.get("options") or ""), "-c synchronous_commit=on"])
        ),
    }
    if "connect_timeout" not in params:
        extra["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    if "application_name" not in params:
        extra["application_name"] = "yizhan"

    def connect():
        return psycopg.connect(conninfo, **extra)

    engine = sa.create_engine(
        "postgresql+psycopg://",
        creator=connect,
        poolclass=QueuePool,
        pool_size=PG_POOL_SIZE,
        max_overflow=0,
        pool_timeout=PG_POOL_TIMEOUT_S,
        pool_pre_ping=True,
        isolation_level="AUTOCOMMIT",
    )
    password = params.get("password")
    return Target("postgis", engine, label, secret=str(password) if password else None)
