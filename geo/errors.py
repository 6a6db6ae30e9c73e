"""Domain errors raised by ``geo`` and the use cases above it: ``api`` maps each to one HTTP
status, the CLI to one line."""

from __future__ import annotations

from typing import TypeVar

Choice = TypeVar("Choice", bound=str)


class YizhanError(Exception):
    """Base class: the message names the argument and the value."""


class InvalidLayer(YizhanError):
    """A layer or data pack breaks a rule (missing CRS, bad polygon, duplicate id, ...)."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        count = len(self.problems)
        head = self.problems[0] if count == 1 else f"{count} problems:\n" + "\n".join(self.problems)
        super().__init__(head)


class UnknownCRS(YizhanError):
    """A ``crs`` argument that is none of wgs84, gcj02, bd09 or a known ``EPSG:`` code."""


class OutsideCity(YizhanError):
    """A position that the operation needs inside the city lies outside it."""


class InvalidInput(YizhanError):
    """An argument or an input value that cannot be used (bad amenity code, bad time, ...)."""


class NotFound(YizhanError):
    """A resource id that does not exist."""


class Conflict(InvalidInput):
    """A request that contradicts what is stored (an idempotency key reused, a stale state)."""


class NotAuthenticated(YizhanError):
    """A staff route without a token, or with one that is not (or no longer) valid."""


class Forbidden(YizhanError):
    """A valid token whose role or scope does not allow the request (or a wrong receipt)."""


class TooMany(YizhanError):
    """A client over a rate limit; ``retry_after_s`` says when it may try again."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(int(retry_after_s), 1)


def check_choice(name: str, value: object, choices: tuple[Choice, ...]) -> Choice:
    """``value`` as one of ``choices`` (the arguments of a ``Literal``), or :class:`InvalidInput`
    naming the argument, the value and the choices."""
    for choice in choices:
        if value == choice:
            return choice
    raise InvalidInput(f"{name} must be one of {', '.join(choices)}, got {value!r}")
