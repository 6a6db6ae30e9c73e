"""The tip store's schema on the command line: which revision it is at, and the upgrade."""

from __future__ import annotations

import typer

from api.cli.app import DbOpt, app, say, settings

db = typer.Typer(help="The tip store's schema: its revision and its upgrade.", no_args_is_help=True)
app.add_typer(db, name="db")


@db.command()
def status(url: DbOpt = None) -> None:
    """Print the store's schema revision and the newest one this release knows."""
    from api.stores import redact, revisions

    target = url or settings().db
    found = revisions(target)
    state = "up to date" if found.at_head else "needs an upgrade (yizhan db upgrade)"
    current = found.current or "none (empty)"
    print(f"{redact(target)}: revision {current}, head {found.head}: {state}")


@db.command("upgrade")
def upgrade_store(url: DbOpt = None) -> None:
    """Bring the store to the newest revision (opening a store does this too)."""
    from api.stores import redact, upgrade

    target = url or settings().db
    applied = upgrade(target)
    if applied:
        say(f"{redact(target)}: applied {', '.join(applied)}")
    else:
        say(f"{redact(target)}: already at the newest revision")
