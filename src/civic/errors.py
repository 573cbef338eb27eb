"""Errors people can act on.

``CivicError`` is a refused operation: it carries a message a clerk can read, the ids involved,
and the HTTP status the API answers with. The CLI and the API each map it in exactly one place.
``Problem`` is a data problem found in bulk (an import row, an integrity check): a value, not an
exception, so many can be collected and reported together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class CivicError(Exception):
    """A refused operation. ``status`` is the HTTP status; ``code`` a stable machine name."""

    status: int = 400
    code: str = "refused"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class NotFound(CivicError):
    status = 404
    code = "not_found"


class CustomerNotFound(NotFound):
    def __init__(self, account: str, community: str | None = None) -> None:
        where = f" in community {community}" if community else ""
        super().__init__(f"no customer with account {account}{where}", account=account)


class InvalidInput(CivicError):
    """Bad input naming the field (and row, for files) at fault."""

    status = 422
    code = "invalid"


class Conflict(CivicError):
    """The request contradicts what is stored (duplicate key, state that forbids it)."""

    status = 409
    code = "conflict"


class MergeRefused(Conflict):
    """A merge (or its undo) that its guards refuse; ``reasons`` names each one."""

    code = "merge_refused"

    def __init__(self, message: str, reasons: tuple[str, ...] | list[str]) -> None:
        super().__init__(message, reasons=list(reasons))
        self.reasons = tuple(reasons)


class StaleUpdate(Conflict):
    """An update based on an older version than the stored one; never silently overwritten."""

    code = "stale"


class Unauthorized(CivicError):
    status = 401
    code = "unauthorized"


class Forbidden(CivicError):
    status = 403
    code = "forbidden"


@dataclass(frozen=True)
class Problem:
    """A data problem: where it was found, what is wrong, the ids it concerns, and a suggested
    fix."""

    source: str
    message: str
    subject: dict[str, Any] = field(default_factory=dict)
    fix: str = ""
