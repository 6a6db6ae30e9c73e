"""The case loop (案件闭环), written once for the API, the CLI and the desk.

Every tip is a case. Its states and the actions that move it::

    reported --register--> registered --dispatch--> dispatched --handle--> handled
    handled --verify--> closed                 (核查结案)
    reported --reject--> rejected (maybe duplicate_of an open case)
    dispatched --return--> registered          (退单: the unit sends it back)
    handled --rework--> dispatched             (返工: the inspector sends it back, counted)
    registered|dispatched --suspend--> suspended --resume--> the state it left (缓办)
    closed --reopen--> dispatched              (the reporter says it is not fixed)

Each state but the resting ones (rejected, closed, suspended) runs the clock of one step
(register, dispatch, handle, verify) whose deadline comes from the pack's SLA table
(:mod:`geo.sla`): working time for normal cases, calendar time for urgent ones. A case past its
step's deadline is overdue. Every action is one transaction (:meth:`Store.apply_action`): the
case changes only if no one changed it meanwhile, its history gets the action and the outbox
its event. A reporter's "me too" (:func:`confirm`) is such an action too, ``confirm``, which
only counts.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from api.services.staff import ROLE_NAMES, Role, Staff, require
from api.settings import Settings
from api.stores import AlreadyConfirmed, CaseConflict, Store
from geo.city import City
from geo.errors import Conflict, Forbidden, InvalidInput, NotFound, check_choice
from geo.hours import CITY_TZ
from geo.pack import URGENCIES, Step, Urgency
from geo.sla import step_due
from geo.units import route_unit

if TYPE_CHECKING:
    from api.services.intake import IntakeLimiter

State = Literal[
    "reported", "registered", "rejected", "dispatched", "handled", "closed", "suspended"
]
STATES: tuple[State, ...] = (
    "reported",
    "registered",
    "rejected",
    "dispatched",
    "handled",
    "closed",
    "suspended",
)
STATE_NAMES = {
    "reported": "待立案",
    "registered": "已立案",
    "rejected": "不予立案",
    "dispatched": "已派遣",
    "handled": "已处置",
    "closed": "已结案",
    "suspended": "缓办",
}
Action = Literal[
    "register", "reject", "dispatch", "return", "handle", "verify", "rework", "suspend", "resume"
]
ACTIONS: tuple[Action, ...] = (
    "register",
    "reject",
    "dispatch",
    "return",
    "handle",
    "verify",
    "rework",
    "suspend",
    "resume",
)
ACTION_NAMES = {
    "register": "立案",
    "reject": "不予立案",
    "dispatch": "派遣",
    "return": "退单",
    "handle": "处置",
    "verify": "核查结案",
    "rework": "返工",
    "suspend": "缓办",
    "resume": "恢复办理",
    # written by reporters, never taken by staff
    "feedback": "群众评价",
    "reopen": "群众反馈未解决",
    "confirm": "我也遇到",
}
STEP_NAMES = {"register": "立案", "dispatch": "派遣", "handle": "处置", "verify": "核查"}
URGENCY_NAMES = {"normal": "一般", "urgent": "紧急"}
# the step whose clock a state runs
STEP_OF: dict[str, Step] = {
    "reported": "register",
    "registered": "dispatch",
    "dispatched": "handle",
    "handled": "verify",
}
RESTING: tuple[State, ...] = ("rejected", "closed", "suspended")


@dataclass(frozen=True)
class Rule:
    """Who may take an action, from which states, and whether it needs a note (a reason)."""

    roles: tuple[Role, ...]
    from_states: tuple[State, ...]
    to_state: State | None  # None: back to the state it was suspended from
    needs_note: bool = False


RULES: dict[Action, Rule] = {
    "register": Rule(("dispatcher",), ("reported",), "registered"),
    "reject": Rule(("dispatcher",), ("reported",), "rejected", needs_note=True),
    "dispatch": Rule(("dispatcher",), ("registered",), "dispatched"),
    "return": Rule(("unit",), ("dispatched",), "registered", needs_note=True),
    "handle": Rule(("unit",), ("dispatched",), "handled", needs_note=True),
    "verify": Rule(("inspector",), ("handled",), "closed"),
    "rework": Rule(("inspector",), ("handled",), "dispatched", needs_note=True),
    "suspend": Rule(("dispatcher",), ("registered", "dispatched"), "suspended", needs_note=True),
    "resume": Rule(("dispatcher",), ("suspended",), None),
}


# what an action takes besides its note and public note; anything else is refused
ACTION_FIELDS: dict[Action, tuple[str, ...]] = {
    "register": ("urgency",),
    "reject": ("duplicate_of",),
    "dispatch": ("unit_id", "urgency"),
}


def vocabulary() -> dict[str, Any]:
    """What a page needs to speak of cases in Chinese: the names of states, actions, steps,
    urgencies and roles, and per action whether it needs a reason and which fields it takes."""
    return {
        "states": STATE_NAMES,
        "actions": ACTION_NAMES,
        "steps": STEP_NAMES,
        "urgencies": URGENCY_NAMES,
        "roles": {**ROLE_NAMES, "reporter": "上报人"},
        "needs_note": [a for a, rule in RULES.items() if rule.needs_note],
        "fields": {a: list(ACTION_FIELDS.get(a, ())) for a in ACTIONS},
    }


@dataclass(frozen=True)
class ActionRequest:
    """An action as staff send it."""

    action: str
    note: str = ""
    public_note: str = ""
    unit_id: str | None = None
    duplicate_of: str | None = None
    urgency: str | None = None


def open311_status(state: str) -> Literal["open", "closed"]:
    """Open311 GeoReport's status of a case state."""
    return "closed" if state in ("closed", "rejected") else "open"


def is_overdue(case: dict, now: dt.datetime) -> bool:
    due = case.get("due_at")
    return (
        due is not None
        and case["state"] not in RESTING
        and dt.datetime.fromisoformat(due) < now.astimezone(CITY_TZ)
    )


def due_for(
    city: City,
    settings: Settings,
    *,
    step: Step,
    category: str,
    urgency: str,
    start: dt.datetime,
) -> dt.datetime:
    """The deadline of ``step`` for a case started at ``start``."""
    return step_due(
        city.sla,
        step=step,
        category=category,
        urgency=check_choice("urgency", urgency, URGENCIES),
        start=start,
        hours=settings.working_hours(),
    )


def new_case(city: City, settings: Settings, tip: dict, *, source: str = "courier") -> dict:
    """The case of a new tip: the register step's clock starts at ``reported_at``."""
    start = dt.datetime.fromisoformat(str(tip["reported_at"]))
    due = due_for(
        city, settings, step="register", category=tip["category"], urgency="normal", start=start
    )
    return {"step": "register", "due_at": due.isoformat(), "source": source, "urgency": "normal"}


def suggested_unit(city: City, case: dict) -> str | None:
    return route_unit(
        city.units, category=case["category"], subdistrict_code=case.get("subdistrict_code")
    )


def get_case(store: Store, staff: Staff, tip_id: str, *, now: dt.datetime | None = None) -> dict:
    """A case as staff see it, with its history; :class:`Forbidden` outside their scope."""
    case = store.get_case(tip_id)
    if case is None:
        raise NotFound(f"tip_id: {tip_id!r} does not exist")
    if not staff.may_see(case):
        raise Forbidden(f"tip_id: {tip_id!r} is outside the scope of this {staff.role} account")
    return staff_view(case, store.case_history(tip_id), now=now, staff=staff)


def allowed_actions(staff: Staff, case: dict) -> list[Action]:
    """The actions ``staff`` may take on ``case`` now (its state, their role and scope)."""
    if not staff.may_see(case):
        return []
    return [
        a
        for a, rule in RULES.items()
        if case["state"] in rule.from_states and (staff.role == "admin" or staff.role in rule.roles)
    ]


def staff_view(
    case: dict,
    history: list[dict],
    *,
    now: dt.datetime | None = None,
    staff: Staff | None = None,
) -> dict:
    """A case as staff see it: ``overdue``, the Open311 status, the history and, given the
    account, the ``actions`` it may take."""
    now = now or dt.datetime.now(CITY_TZ)
    out = dict(case)
    if staff is not None:
        out["actions"] = allowed_actions(staff, case)
    out["overdue"] = is_overdue(case, now)
    out["open311_status"] = open311_status(case["state"])
    out["history"] = [
        {k: h[k] for k in ("action", "from_state", "to_state", "at", "role", "unit_id", "note")}
        | {"public_note": h["public_note"], "staff_id": h["staff_id"]}
        for h in history
    ]
    return out


def public_notes(history: list[dict]) -> list[dict]:
    """What a reporter and the public see of a case's history: no staff, no internal notes."""
    return [
        {"at": h["at"], "action": h["action"], "state": h["to_state"], "note": h["public_note"]}
        for h in history
        if h["public_note"]
    ]


def act(
    city: City,
    store: Store,
    settings: Settings,
    staff: Staff,
    tip_id: str,
    request: ActionRequest,
    *,
    now: dt.datetime | None = None,
) -> dict:
    """Take one action on a case; return the case as staff see it.

    Raises
    ------
    NotFound
        No such case.
    Forbidden
        The role may not take this action, or the case lies outside the account's scope.
    Conflict
        The case's state does not allow the action, or someone changed it meanwhile.
    InvalidInput
        A missing reason, an unknown unit, a bad duplicate_of or urgency.
    """
    now = (now or dt.datetime.now(CITY_TZ)).astimezone(CITY_TZ)
    action = check_choice("action", request.action, ACTIONS)
    rule = RULES[action]
    case = store.get_case(tip_id)
    if case is None:
        raise NotFound(f"tip_id: {tip_id!r} does not exist")
    require(staff, *rule.roles)
    if not staff.may_see(case):
        raise Forbidden(f"tip_id: {tip_id!r} is outside the scope of this {staff.role} account")
    state = case["state"]
    if state not in rule.from_states:
        raise Conflict(
            f"action: {action!r} is not allowed in state {state!r} "
            f"(only from {', '.join(rule.from_states)})"
        )
    note, public_note = (
        _text(request.note, "note", settings),
        _text(request.public_note, "public_note", settings),
    )
    if rule.needs_note and not note:
        raise InvalidInput(f"note: {action!r} needs a reason")
    changes = transition(city, settings, case, action, request, now, lookup=store.get_case)
    to_state = changes.get("state", state)
    record = {
        "action": action,
        "from_state": state,
        "to_state": to_state,
        "at": now.isoformat(),
        "role": staff.role,
        "unit_id": staff.unit_id,
        "staff_id": staff.staff_id,
        "note": note,
        "public_note": public_note,
    }
    return _apply(store, case, changes, record, now, staff=staff)


def _apply(
    store: Store,
    case: dict,
    changes: dict[str, Any],
    record: dict[str, Any],
    now: dt.datetime,
    confirm: dict | None = None,
    staff: Staff | None = None,
) -> dict:
    tip_id = case["tip_id"]
    event = {
        "event": "case." + record["action"],
        "tip_id": tip_id,
        "action": record["action"],
        "from_state": record["from_state"],
        "to_state": record["to_state"],
        "at": record["at"],
        "role": record["role"],
        "unit_id": changes.get("unit_id", case["unit_id"]),
        "urgency": changes.get("urgency", case["urgency"]),
        "due_at": changes.get("due_at", case["due_at"]),
        "status": open311_status(record["to_state"]),
        "public_note": record["public_note"],
        "confirmations": changes.get("confirmations", case["confirmations"]),
    }
    updated = store.apply_action(  # CaseConflict (409) if someone acted meanwhile
        tip_id,
        version=case["version"],
        changes=changes,
        action=record,
        event=event,
        confirm=confirm,
    )
    return staff_view(updated, store.case_history(tip_id), now=now, staff=staff)


def transition(
    city: City,
    settings: Settings,
    case: dict,
    action: Action,
    request: ActionRequest,
    now: dt.datetime,
    *,
    lookup: Callable[[str], dict | None],
) -> dict[str, Any]:
    """The columns ``action`` changes on ``case`` at ``now`` (its state allows it: see
    :data:`RULES`); ``lookup`` finds another case (for ``duplicate_of``)."""
    urgency: Urgency = check_choice("urgency", case["urgency"], URGENCIES)
    changes: dict[str, Any] = {}
    takes = ACTION_FIELDS.get(action, ())
    if request.urgency is not None:
        if "urgency" not in takes:
            raise InvalidInput(f"urgency: is set when registering or dispatching, not {action!r}")
        urgency = check_choice("urgency", request.urgency, URGENCIES)
        changes["urgency"] = urgency
    if request.unit_id is not None and "unit_id" not in takes:
        raise InvalidInput(f"unit_id: is given when dispatching, not {action!r}")
    if request.duplicate_of is not None and "duplicate_of" not in takes:
        raise InvalidInput(f"duplicate_of: is given when rejecting, not {action!r}")

    def clock(state: str) -> None:
        step = STEP_OF[state]
        changes["step"] = step
        changes["due_at"] = due_for(
            city, settings, step=step, category=case["category"], urgency=urgency, start=now
        ).isoformat()

    def stop_clock() -> None:
        changes["step"] = None
        changes["due_at"] = None

    at = now.isoformat()
    if action == "register":
        changes.update(state="registered", registered_at=at)
        if case["unit_id"] is None:
            changes["unit_id"] = suggested_unit(city, case)
        clock("registered")
    elif action == "reject":
        changes["state"] = "rejected"
        if request.duplicate_of is not None:
            changes["duplicate_of"] = _open_case(lookup, request.duplicate_of, case["tip_id"])
        stop_clock()
    elif action == "dispatch":
        unit = request.unit_id or case["unit_id"] or suggested_unit(city, case)
        if unit is None:
            raise InvalidInput("unit_id: no unit serves this case's category and subdistrict")
        units = set(city.units["unit_id"].astype(str))
        if unit not in units:
            raise InvalidInput(f"unit_id: {unit!r} is not one of {', '.join(sorted(units))}")
        changes.update(state="dispatched", unit_id=unit, dispatched_at=at)
        clock("dispatched")
        changes["handle_due_at"] = changes["due_at"]
    elif action == "return":
        changes.update(state="registered", unit_id=None, return_count=case["return_count"] + 1)
        clock("registered")
    elif action == "handle":
        changes.update(state="handled", handled_at=at)
        clock("handled")
    elif action == "verify":
        changes.update(state="closed", closed_at=at)
        stop_clock()
    elif action == "rework":
        changes.update(state="dispatched", rework_count=case["rework_count"] + 1)
        clock("dispatched")
    elif action == "suspend":
        changes.update(state="suspended", suspended_from=case["state"])
        stop_clock()
    elif action == "resume":
        back = case["suspended_from"] or "registered"
        changes.update(state=back, suspended_from=None)
        clock(back)
    return changes


def _open_case(lookup: Callable[[str], dict | None], duplicate_of: str, tip_id: str) -> str:
    if duplicate_of == tip_id:
        raise InvalidInput("duplicate_of: a case cannot repeat itself")
    other = lookup(duplicate_of)
    if other is None:
        raise InvalidInput(f"duplicate_of: {duplicate_of!r} does not exist")
    if other["state"] in ("rejected", "closed"):
        raise InvalidInput(f"duplicate_of: {duplicate_of!r} is {other['state']}, not open")
    return duplicate_of


def _text(value: str, field: str, settings: Settings) -> str:
    text = (value or "").strip()
    if len(text) > settings.note_max_chars:
        raise InvalidInput(
            f"{field}: {len(text)} characters is longer than {settings.note_max_chars} "
            "(YIZHAN_NOTE_MAX_CHARS)"
        )
    if "\x00" in text:
        raise InvalidInput(f"{field}: contains a NUL character (\\u0000)")
    return text


# -- reporters: receipts and feedback --------------------------------------------------------

Fixed = Literal["yes", "no", "unknown"]
FIXED: tuple[Fixed, ...] = ("yes", "no", "unknown")


def receipt_for(store: Store, tip_id: str) -> str:
    """The secret a reporter keeps for a tip: an HMAC of its id with the store's key, so that
    nothing more is stored and every process of a deployment agrees."""
    key = bytes.fromhex(store.secret("receipt_key"))
    mac = hmac.new(key, tip_id.encode("utf-8"), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(mac).decode("ascii")


def check_receipt(store: Store, tip_id: str, receipt: str | None) -> None:
    given = (receipt or "").encode("utf-8")
    if not given or not hmac.compare_digest(given, receipt_for(store, tip_id).encode("ascii")):
        raise Forbidden("receipt: missing or not the receipt of this tip")


def answer_changes(
    city: City, settings: Settings, case: dict, answer: Fixed, now: dt.datetime
) -> dict[str, Any]:
    """The columns a reporter's answer changes on a closed case: "no" reopens it (back to its
    unit, the handling clock restarted), the others record the satisfaction."""
    changes: dict[str, Any] = {"satisfaction": answer}
    if answer == "no":
        due = due_for(
            city,
            settings,
            step="handle",
            category=case["category"],
            urgency=case["urgency"],
            start=now,
        )
        changes.update(
            state="dispatched",
            reopen_count=case["reopen_count"] + 1,
            closed_at=None,
            step="handle",
            due_at=due.isoformat(),
        )
    return changes


def feedback(
    city: City,
    store: Store,
    settings: Settings,
    tip_id: str,
    *,
    receipt: str | None,
    fixed: str,
    now: dt.datetime | None = None,
) -> dict:
    """A reporter's answer to 问题解决了吗 on a closed case; "no" reopens it (to its unit)."""
    now = (now or dt.datetime.now(CITY_TZ)).astimezone(CITY_TZ)
    answer = check_choice("fixed", fixed, FIXED)
    case = store.get_case(tip_id)
    if case is None:
        raise NotFound(f"tip_id: {tip_id!r} does not exist")
    check_receipt(store, tip_id, receipt)
    if case["state"] != "closed":
        raise Conflict(f"tip_id: {tip_id!r} is {case['state']}, not closed: nothing to answer")
    changes = answer_changes(city, settings, case, answer, now)
    action, to_state = ("reopen", "dispatched") if answer == "no" else ("feedback", "closed")
    record = {
        "action": action,
        "from_state": "closed",
        "to_state": to_state,
        "at": now.isoformat(),
        "role": "reporter",
        "unit_id": None,
        "staff_id": None,
        "note": f"fixed={answer}",
        "public_note": "",
    }
    return _apply(store, case, changes, record, now)


def check_reporter_id(settings: Settings, reporter_id: str) -> str:
    """``reporter_id`` if it is one (not empty, not too long), else :class:`InvalidInput`."""
    if not reporter_id:
        raise InvalidInput("reporter_id: must not be empty")
    if len(reporter_id) > settings.reporter_id_max_chars:
        raise InvalidInput(
            f"reporter_id: longer than {settings.reporter_id_max_chars} characters "
            "(YIZHAN_REPORTER_ID_MAX_CHARS)"
        )
    if "\x00" in reporter_id:
        raise InvalidInput("reporter_id: contains a NUL character (\\u0000)")
    return reporter_id


# attempts at a "me too" when other confirmations or staff change the case meanwhile
CONFIRM_ATTEMPTS = 5


def confirm(
    store: Store,
    settings: Settings,
    tip_id: str,
    *,
    reporter_id: str,
    address: str = "unknown",
    limiter: IntakeLimiter | None = None,
    now: dt.datetime | None = None,
) -> dict:
    """A reporter's "me too" (我也遇到) on an open case, counted once per reporter.

    Returns ``tip_id``, ``state``, ``confirmations`` and ``counted``: False, with the count
    unchanged, when this reporter confirmed the case before or reported it. A counted one is an
    action (``confirm``, by the role ``reporter``, in the state the case is in) with its event
    in the outbox, like a staff action; its history row does not name the reporter.

    Raises
    ------
    NotFound
        No such case.
    Conflict
        The case is closed or rejected.
    TooMany
        Over the same rate limits as tips.
    """
    now = (now or dt.datetime.now(CITY_TZ)).astimezone(CITY_TZ)
    check_reporter_id(settings, reporter_id)
    for attempt in range(CONFIRM_ATTEMPTS):
        case = store.get_case(tip_id)
        if case is None:
            raise NotFound(f"tip_id: {tip_id!r} does not exist")
        state = case["state"]
        if open311_status(state) == "closed":
            raise Conflict(f"tip_id: {tip_id!r} is {state}: there is nothing to confirm")
        if attempt == 0:
            tip = store.get_tip(tip_id)
            if tip is not None and tip["reporter_id"] == reporter_id:
                return _confirmed(case, counted=False)  # the reporter's own tip
            if limiter is not None:
                limiter.hit(reporter_id=reporter_id, address=address)
        record = {
            "action": "confirm",
            "from_state": state,
            "to_state": state,
            "at": now.isoformat(),
            "role": "reporter",
            "unit_id": None,
            "staff_id": None,
            "note": "",
            "public_note": "",
        }
        mark = {"tip_id": tip_id, "reporter_id": reporter_id, "at": now.isoformat()}
        try:
            updated = _apply(
                store,
                case,
                {"confirmations": case["confirmations"] + 1},
                record,
                now,
                confirm=mark,
            )
        except AlreadyConfirmed:
            return _confirmed(case, counted=False)
        except CaseConflict:
            if attempt == CONFIRM_ATTEMPTS - 1:
                raise
            continue  # the case moved meanwhile: read it again
        return _confirmed(updated, counted=True)
    raise AssertionError("unreachable")  # pragma: no cover


def _confirmed(case: dict, *, counted: bool) -> dict:
    return {
        "tip_id": case["tip_id"],
        "state": case["state"],
        "confirmations": case["confirmations"],
        "counted": counted,
    }
