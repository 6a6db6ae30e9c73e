"""A data pack's case history and staff, taken into a new store (the demo's six months).

A pack may hold, beside its tips:

- ``cases.csv``: ``tip_id``, ``source`` (``courier``, ``hotline_12345``, ``grid_worker`` ...),
  ``external_id``: where a tip came from;
- ``case_history.csv``: ``tip_id``, ``at``, ``action`` (the staff actions, and ``feedback``
  with ``fixed`` yes/no/unknown for a reporter's answer), ``note``, ``public_note``,
  ``urgency``, ``unit_id``, ``duplicate_of``: what was done to each case, when;
- ``staff.csv``: ``staff_id``, ``name``, ``role``, ``unit_id``, ``subdistricts``,
  ``token_sha256``: accounts, with the SHA-256 of their tokens (the demo's are printed by its
  generator).

The history is replayed through the same state machine as live actions
(:func:`api.services.cases.transition`), in time order, so every deadline, unit and count is
what the rules give; an action its case's state does not allow refuses the pack, naming the row.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from api.services.cases import (
    FIXED,
    RULES,
    ActionRequest,
    answer_changes,
    new_case,
    transition,
)
from api.services.staff import ROLES
from api.settings import Settings
from api.stores import CaseQuery, Store
from geo.city import City
from geo.errors import InvalidInput, InvalidLayer, check_choice
from geo.hours import CITY_TZ

CASES_FILE = "cases.csv"
HISTORY_FILE = "case_history.csv"
STAFF_FILE = "staff.csv"


def _table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


def import_pack_history(city: City, store: Store, settings: Settings) -> int:
    """Replay the pack's case history onto the cases of its tips (just imported); return how
    many actions were taken in."""
    folder = city.pack.folder
    history_path, cases_path = folder / HISTORY_FILE, folder / CASES_FILE
    if not history_path.exists() and not cases_path.exists():
        return 0
    now = dt.datetime.now(CITY_TZ)
    stored, _ = store.list_cases(CaseQuery(now=now, limit=10**9))
    cases = {c["tip_id"]: c for c in stored}
    if cases_path.exists():
        for n, row in enumerate(_table(cases_path).to_dict("records"), start=2):
            case = cases.get(row["tip_id"])
            if case is None:
                raise InvalidLayer(f"{CASES_FILE}: row {n}: tip_id {row['tip_id']!r} is no tip")
            case["source"] = row.get("source") or "courier"
            case["external_id"] = row.get("external_id") or None
    for case in cases.values():  # the history says what became of each: all start reported
        case.update(new_case(city, settings, case, source=case["source"]))
        case.update(state="reported", closed_at=None)
    actions: list[dict[str, Any]] = []
    if history_path.exists():
        table = _table(history_path)
        table["_row"] = range(2, len(table) + 2)
        table["_at"] = pd.to_datetime(table["at"], format="ISO8601")
        for row in table.sort_values(["_at", "_row"], kind="stable").to_dict("records"):
            try:
                actions.append(_replay(city, settings, cases, row))
            except InvalidInput as e:
                raise InvalidLayer(f"{HISTORY_FILE}: row {row['_row']}: {e}") from None
    store.import_history(list(cases.values()), actions)
    return len(actions)


def _replay(city: City, settings: Settings, cases: dict[str, dict], row: dict) -> dict:
    case = cases.get(row["tip_id"])
    if case is None:
        raise InvalidInput(f"tip_id: {row['tip_id']!r} is no tip of the pack")
    at = dt.datetime.fromisoformat(row["at"]).astimezone(CITY_TZ)
    if dt.datetime.fromisoformat(case["reported_at"]) > at:
        raise InvalidInput(f"at: {row['at']} is before the tip was reported")
    state = case["state"]
    if row["action"] == "feedback":
        if state != "closed":
            raise InvalidInput(f"action: feedback on a case that is {state}, not closed")
        answer = check_choice("fixed", row["fixed"], FIXED)
        changes = answer_changes(city, settings, case, answer, at)
        action, role, unit = ("reopen" if answer == "no" else "feedback"), "reporter", None
        note = f"fixed={answer}"
    else:
        action = check_choice("action", row["action"], tuple(RULES))
        rule = RULES[action]
        if state not in rule.from_states:
            raise InvalidInput(f"action: {action!r} is not allowed in state {state!r}")
        request = ActionRequest(
            action=action,
            note=row.get("note", ""),
            unit_id=row.get("unit_id") or None,
            duplicate_of=row.get("duplicate_of") or None,
            urgency=row.get("urgency") or None,
        )
        if rule.needs_note and not request.note:
            raise InvalidInput(f"note: {action!r} needs a reason")
        changes = transition(city, settings, case, action, request, at, lookup=cases.get)
        role = rule.roles[0]
        unit = case["unit_id"] if role == "unit" else None
        note = request.note
    record = {
        "tip_id": case["tip_id"],
        "action": action,
        "from_state": state,
        "to_state": changes.get("state", state),
        "at": at.isoformat(),
        "role": role,
        "unit_id": unit,
        "staff_id": None,
        "note": note,
        "public_note": row.get("public_note", ""),
    }
    case.update(changes, updated_at=at.isoformat(), version=case["version"] + 1)
    return record


def import_pack_staff(city: City, store: Store) -> int:
    """The pack's staff accounts, into a store that has none yet; return how many."""
    path = city.pack.folder / STAFF_FILE
    if not path.exists() or store.list_staff():
        return 0
    rows = _table(path).to_dict("records")
    created = dt.datetime.now(CITY_TZ).isoformat()
    for n, row in enumerate(rows, start=2):
        digest = row.get("token_sha256", "")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise InvalidLayer(f"{STAFF_FILE}: row {n}: token_sha256 is not a SHA-256 in hex")
        try:
            role = check_choice("role", row.get("role"), ROLES)
        except InvalidInput as e:
            raise InvalidLayer(f"{STAFF_FILE}: row {n}: {e}") from None
        store.add_staff(
            {
                "staff_id": row["staff_id"],
                "name": row["name"],
                "role": role,
                "unit_id": row.get("unit_id") or None,
                "subdistricts": row.get("subdistricts", ""),
                "token_hash": digest,
                "created_at": created,
            }
        )
    return len(rows)
