"""Staff accounts: roles, scopes and bearer tokens.

A token is 32 random bytes (``yz_`` + URL-safe base64), shown once when the account is made;
the store keeps its SHA-256 only. A random token of that length needs no slow hash: there is
nothing to guess from a dictionary, and SHA-256 lets a request find its account by one indexed
lookup.

Roles: ``dispatcher`` (综治中心: register, reject, dispatch, suspend, resume), ``unit``
(处置单位: handle or return what was dispatched to its unit), ``inspector`` (核查员: verify or
send back for rework) and ``admin`` (all of these, and staff). A dispatcher or an inspector may
be limited to some subdistricts; a unit account belongs to one unit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

from api.stores import Store
from geo.city import City
from geo.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound, check_choice
from geo.hours import CITY_TZ

Role = Literal["dispatcher", "unit", "inspector", "admin"]
ROLES: tuple[Role, ...] = ("dispatcher", "unit", "inspector", "admin")
ROLE_NAMES = {
    "dispatcher": "综治中心",
    "unit": "处置单位",
    "inspector": "核查员",
    "admin": "管理员",
}
TOKEN_PREFIX = "yz_"


@dataclass(frozen=True)
class Staff:
    """A signed-in staff member."""

    staff_id: str
    name: str
    role: Role
    unit_id: str | None = None
    subdistricts: tuple[str, ...] = ()  # empty: every subdistrict

    def may_see(self, case: dict) -> bool:
        """Whether the case lies in this account's scope."""
        if self.role == "admin":
            return True
        if self.role == "unit":
            return case.get("unit_id") == self.unit_id
        return not self.subdistricts or case.get("subdistrict_code") in self.subdistricts

    def scope(self) -> tuple[tuple[str, ...] | None, str | None]:
        """The subdistricts (None: all) and the unit (None: any) whose cases this account
        sees."""
        if self.role == "admin":
            return None, None
        if self.role == "unit":
            return None, self.unit_id
        return (self.subdistricts or None), None

    def narrow(
        self, *, subdistrict_code: str | None, unit_id: str | None
    ) -> tuple[tuple[str, ...] | None, str | None]:
        """:meth:`scope` narrowed by a listing's filters: a subdistrict outside the scope
        matches nothing; a unit account asking for another unit is refused."""
        subdistricts, own_unit = self.scope()
        if subdistrict_code is not None:
            inside = subdistricts is None or subdistrict_code in subdistricts
            subdistricts = (subdistrict_code,) if inside else ()
        if own_unit is not None:
            if unit_id is not None and unit_id != own_unit:
                raise InvalidInput(f"unit_id: a {own_unit} account sees its own unit's cases")
            unit_id = own_unit
        return subdistricts, unit_id


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_staff(
    city: City,
    store: Store,
    name: str,
    *,
    role: str,
    subdistricts: tuple[str, ...] = (),
    unit_id: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[Staff, str]:
    """Make an account; return it and its token (shown once, never stored)."""
    name = name.strip()
    if not name:
        raise InvalidInput("name: must not be empty")
    checked = check_choice("role", role, ROLES)
    known = set(city.subdistricts["subdistrict_code"].astype(str))
    for code in subdistricts:
        if code not in known:
            raise InvalidInput(f"subdistrict: {code!r} is not a subdistrict of {city.name}")
    if checked == "unit":
        units = set(city.units["unit_id"].astype(str))
        if unit_id is None:
            raise InvalidInput("unit: a unit account needs --unit UNIT_ID")
        if unit_id not in units:
            raise InvalidInput(f"unit: {unit_id!r} is not one of {', '.join(sorted(units))}")
        if subdistricts:
            raise InvalidInput("subdistrict: a unit account is scoped by its unit, not by area")
    elif unit_id is not None:
        raise InvalidInput(f"unit: only a unit account has a unit, not a {checked}")
    if checked == "admin" and subdistricts:
        raise InvalidInput("subdistrict: an admin account covers the whole city")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    staff = Staff(
        staff_id=f"S{secrets.token_hex(4)}",
        name=name,
        role=checked,
        unit_id=unit_id,
        subdistricts=tuple(subdistricts),
    )
    store.add_staff(
        {
            "staff_id": staff.staff_id,
            "name": staff.name,
            "role": staff.role,
            "unit_id": staff.unit_id,
            "subdistricts": ";".join(staff.subdistricts),
            "token_hash": token_hash(token),
            "created_at": (now or dt.datetime.now(CITY_TZ)).isoformat(),
        }
    )
    return staff, token


def authenticate(store: Store, authorization: str | None) -> Staff:
    """The account of an ``Authorization: Bearer <token>`` header, or :class:`NotAuthenticated`."""
    if not authorization:
        raise NotAuthenticated("Authorization: a staff token is needed (Bearer <token>)")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated("Authorization: expected 'Bearer <token>'")
    row = store.staff_by_token_hash(token_hash(token))
    if row is None:
        raise NotAuthenticated("Authorization: the token is not valid (wrong, or revoked)")
    return staff_of(row)


def staff_of(row: dict) -> Staff:
    return Staff(
        staff_id=row["staff_id"],
        name=row["name"],
        role=check_choice("role", row["role"], ROLES),
        unit_id=row["unit_id"],
        subdistricts=tuple(c for c in (row["subdistricts"] or "").split(";") if c),
    )


def require(staff: Staff, *roles: Role) -> None:
    """:class:`Forbidden` unless ``staff`` has one of ``roles`` (an admin has them all)."""
    if staff.role != "admin" and staff.role not in roles:
        names = "、".join(ROLE_NAMES[r] for r in roles)
        raise Forbidden(f"role: {staff.role} may not do this (needs {', '.join(roles)}: {names})")


def revoke_staff(store: Store, staff_id: str, *, now: dt.datetime | None = None) -> None:
    if not store.revoke_staff(staff_id, now or dt.datetime.now(CITY_TZ)):
        raise NotFound(f"staff_id: {staff_id!r} is not a live account")
