"""Staff users of the ledger's web pages: added from the command line, passwords hashed with
argon2, signed in by username and password."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from civic.errors import Conflict, InvalidInput, NotFound
from civic.ledger.customers import audit, get_community, now
from civic.ledger.tables import STAFF_ROLES, StaffUser
from civic.security import hash_password, verify_password

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,59}$")


@functools.cache
def _dummy_hash() -> str:
    """A real hash of a password nobody has, so an unknown username costs as much as a wrong
    password (made on first use: hashing is deliberately slow)."""
    return hash_password("no-such-user-password")


@dataclass(frozen=True)
class StaffView:
    id: int
    username: str
    role: str
    communities: tuple[str, ...]
    session_epoch: int = 0

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"

    def may_see(self, community: str) -> bool:
        return community in self.communities


def _view(user: StaffUser) -> StaffView:
    return StaffView(user.id, user.username, user.role, tuple(user.communities), user.session_epoch)


def add_staff(
    session: Session,
    username: str,
    password: str,
    *,
    role: str,
    communities: Sequence[str],
    actor: str,
) -> StaffView:
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise InvalidInput(
            "username: 2-60 characters, lower-case letters, digits and . _ @ -", field="username"
        )
    if role not in STAFF_ROLES:
        raise InvalidInput(f"role: {role!r} is not one of {', '.join(STAFF_ROLES)}", field="role")
    if not communities:
        raise InvalidInput("communities: name at least one community", field="communities")
    codes = [get_community(session, c).code for c in communities]
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)):
        raise Conflict(f"a staff user {username!r} already exists", username=username)
    user = StaffUser(
        username=username,
        password_hash=hash_password(password),
        role=role,
        communities=sorted(set(codes)),
        created_at=now(),
        session_epoch=0,
    )
    session.add(user)
    session.flush()
    audit(
        session,
        actor,
        "staff.add",
        "staff_user",
        user.id,
        None,
        {"username": [None, username], "role": [None, role], "communities": [None, codes]},
    )
    return _view(user)


def authenticate(session: Session, username: str, password: str) -> StaffView | None:
    """The staff user if the password is right and the account is enabled; else None."""
    user = session.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
    if user is None:
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(user.password_hash, password) or user.disabled_at is not None:
        return None
    return _view(user)


def get_staff(session: Session, user_id: int) -> StaffView | None:
    user = session.get(StaffUser, user_id)
    if user is None or user.disabled_at is not None:
        return None
    return _view(user)


def list_staff(session: Session) -> list[StaffView]:
    users = session.scalars(
        select(StaffUser).where(StaffUser.disabled_at.is_(None)).order_by(StaffUser.username)
    )
    return [_view(u) for u in users]


def disable_staff(session: Session, username: str, *, actor: str) -> None:
    user = session.scalar(select(StaffUser).where(StaffUser.username == username.lower()))
    if user is None or user.disabled_at is not None:
        raise NotFound(f"no staff user {username!r}", username=username)
    user.disabled_at = now()
    user.session_epoch += 1
    audit(session, actor, "staff.disable", "staff_user", user.id, None, {})


def end_sessions(session: Session, user_id: int) -> None:
    """Sign out everywhere: every session cookie made before now stops working."""
    user = session.get(StaffUser, user_id)
    if user is not None:
        user.session_epoch += 1
