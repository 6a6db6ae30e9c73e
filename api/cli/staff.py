"""Staff accounts on the command line: add (prints the token once), list, revoke."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.app import DataOpt, DbOpt, app, load_city, out, say, settings

staff = typer.Typer(
    help="Staff accounts (综治中心, 处置单位, 核查员, 管理员).", no_args_is_help=True
)
app.add_typer(staff, name="staff")


@staff.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Who: a name staff recognise.")],
    role: Annotated[str, typer.Option("--role", help="dispatcher, unit, inspector or admin.")],
    subdistrict: Annotated[
        list[str] | None,
        typer.Option("--subdistrict", metavar="CODE", help="Limit to a subdistrict; repeatable."),
    ] = None,
    unit: Annotated[
        str | None, typer.Option("--unit", metavar="UNIT_ID", help="A unit account's unit.")
    ] = None,
    data: DataOpt = None,
    db: DbOpt = None,
) -> None:
    """Add an account and print its token, once, on a line of its own (only a hash is kept)."""
    from api.services.staff import add_staff
    from api.stores import open_store

    city = load_city(data)
    store = open_store(db or settings().db)
    try:
        account, token = add_staff(
            city, store, name, role=role, subdistricts=tuple(subdistrict or ()), unit_id=unit
        )
    finally:
        store.close()
    scope = account.unit_id or ",".join(account.subdistricts) or "all"
    say(f"added {account.staff_id} ({account.role}, {scope}); its token, shown only now:")
    print(token, flush=True)


@staff.command("list")
def list_staff(db: DbOpt = None) -> None:
    """Every account: id, name, role, scope, created, revoked (never a token)."""
    from rich.table import Table

    from api.stores import open_store

    store = open_store(db or settings().db)
    try:
        rows = store.list_staff()
    finally:
        store.close()
    table = Table("staff_id", "name", "role", "unit / subdistricts", "created", "revoked")
    for r in rows:
        scope = r["unit_id"] or r["subdistricts"].replace(";", ",") or "all"
        table.add_row(
            r["staff_id"],
            r["name"],
            r["role"],
            scope,
            r["created_at"][:16],
            (r["revoked_at"] or "")[:16],
        )
    out.print(table)


@staff.command("revoke")
def revoke(
    staff_id: Annotated[str, typer.Argument(help="The account's staff_id (see staff list).")],
    db: DbOpt = None,
) -> None:
    """Revoke an account: its token stops working at once."""
    from api.services.staff import revoke_staff
    from api.stores import open_store

    store = open_store(db or settings().db)
    try:
        revoke_staff(store, staff_id)
    finally:
        store.close()
    say(f"revoked {staff_id}")
