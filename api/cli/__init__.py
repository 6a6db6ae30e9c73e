"""The ``yizhan`` command line: the same use cases the API runs, for batch work.

Commands live by concern in ``batch`` (validate, assign, nearest), ``planning`` (coverage, gaps,
suggest, map), ``metrics`` (the case rates), ``staff``, ``imports`` (import cases), ``db``
and ``serve``; :func:`main` turns every error into one line and an exit code.
"""

from __future__ import annotations

import sys

from pydantic import ValidationError

from api.cli import batch, db, imports, metrics, planning, serve, staff  # noqa: F401
from api.cli.app import app, say
from geo.errors import YizhanError

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: run the app; domain errors become one line on stderr and exit code 1."""
    try:
        app(standalone_mode=True)
    except YizhanError as exc:
        say(f"error: {exc}")
        sys.exit(1)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "YIZHAN_" + str(first["loc"][0]).upper() if first.get("loc") else "setting"
        value = first.get("input")
        say(f"error: {name}={value!r}: {first['msg']}")
        sys.exit(1)
    except OSError as exc:
        say(f"error: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback
        say(f"error: unexpected {type(exc).__name__}: {exc}")
        sys.exit(2)
