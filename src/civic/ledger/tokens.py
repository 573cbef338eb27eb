"""API tokens: create, verify, list and revoke the bearer tokens of the ledger API.

A token is ``cl_`` followed by ``secrets.token_urlsafe(32)`` (256 random bits). Only its SHA-256
is stored, with a short ``prefix`` so people can tell tokens apart; the plaintext is returned
once by :func:`create` and can never be shown again. Each token carries scopes (``SCOPES``);
:func:`verify` refuses an unknown or revoked token (``Unauthorized``) and one without the needed
scope (``Forbidden``). Like every service here, these take a ``Session``; the caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from civic.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from civic.ledger.tables import ApiToken

SCOPE_CUSTOMERS_READ = "customers:read"
"""Read customers, their balances and transaction history."""
SCOPE_CHANGES_READ = "changes:read"
"""Read the change feed (what the portal sync follows)."""
SCOPES: tuple[str, ...] = (SCOPE_CUSTOMERS_READ, SCOPE_CHANGES_READ)

TOKEN_PREFIX = "cl_"
PREFIX_LENGTH = len(TOKEN_PREFIX) + 8
"""How much of a token is stored in clear for display (``cl_`` and 8 random characters)."""
USE_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is refreshed at most this often, so reading does not mean writing."""
_MAX_NAME = 60  # api_tokens.name is VARCHAR(60)
_MAX_TOKEN = 200


@dataclass(frozen=True)
class TokenView:
    """A token as people see it: never the plaintext, never the hash."""

    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_token(plaintext: str) -> str:
    """The stored form of a token: its SHA-256 as 64 hex digits."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stamp we write is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def to_view(row: ApiToken) -> TokenView:
    return TokenView(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=parse_scopes(row.scopes),
        created_at=as_utc(row.created_at),
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
        last_used_at=as_utc(row.last_used_at) if row.last_used_at else None,
    )


def parse_scopes(stored: str) -> tuple[str, ...]:
    return tuple(s for s in stored.split() if s)


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Known scopes, without repeats, in the order of ``SCOPES``; refuses an unknown one."""
    wanted = {s.strip().lower() for s in scopes if s.strip()}
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise InvalidInput(
            f"scope: {', '.join(unknown)} is not a scope (known: {', '.join(SCOPES)})",
            field="scope",
            unknown=unknown,
        )
    if not wanted:
        raise InvalidInput(f"scope: give at least one scope ({', '.join(SCOPES)})", field="scope")
    return tuple(s for s in SCOPES if s in wanted)


def create(session: Session, name: str, scopes: Iterable[str]) -> tuple[str, ApiToken]:
    """A new token named ``name`` with ``scopes``; returns (plaintext, stored row).

    The plaintext exists only in the return value: show it once, it cannot be recovered.
    """
    name = name.strip()
    if not name or len(name) > _MAX_NAME:
        raise InvalidInput(f"name: 1 to {_MAX_NAME} characters", field="name")
    granted = check_scopes(scopes)
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        prefix=plaintext[:PREFIX_LENGTH],
        token_hash=hash_token(plaintext),
        scopes=" ".join(granted),
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return plaintext, row


def authenticate(session: Session, plaintext: str, needed_scope: str) -> ApiToken:
    """The token ``plaintext`` if it is known, not revoked and grants ``needed_scope``.

    Reads only: see :func:`verify` to also record the use.
    """
    if needed_scope not in SCOPES:
        raise ValueError(f"unknown scope {needed_scope!r}")
    token = plaintext.strip()
    if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN:
        raise Unauthorized(f"not a Civic Ledger API token (they start with {TOKEN_PREFIX})")
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None:
        raise Unauthorized("unknown API token")
    if row.revoked_at is not None:
        raise Unauthorized(f"API token {row.prefix} (id {row.id}) was revoked", token_id=row.id)
    granted = parse_scopes(row.scopes)
    if needed_scope not in granted:
        raise Forbidden(
            f"API token {row.prefix} (id {row.id}) lacks scope {needed_scope}",
            token_id=row.id,
            needed_scope=needed_scope,
            scopes=list(granted),
        )
    return row


def verify(
    session: Session, plaintext: str, needed_scope: str, *, at: datetime | None = None
) -> ApiToken:
    """:func:`authenticate`, then record the use in ``last_used_at`` (caller commits)."""
    row = authenticate(session, plaintext, needed_scope)
    mark_used(session, row.id, at=at)
    return row


def use_is_stale(last_used_at: datetime | None, at: datetime | None = None) -> bool:
    """Whether ``last_used_at`` is old enough to be worth a write (see ``USE_RESOLUTION``)."""
    if last_used_at is None:
        return True
    return (at or datetime.now(UTC)) - as_utc(last_used_at) >= USE_RESOLUTION


def mark_used(session: Session, token_id: int, *, at: datetime | None = None) -> bool:
    """Set ``last_used_at`` unless it was set within ``USE_RESOLUTION``; True if it changed."""
    when = at or datetime.now(UTC)
    row = session.get(ApiToken, token_id)
    if row is None or not use_is_stale(row.last_used_at, when):
        return False
    row.last_used_at = when
    session.flush()
    return True


def list_tokens(session: Session, *, include_revoked: bool = True) -> list[TokenView]:
    """Every token, oldest first (revoked ones too unless ``include_revoked`` is False)."""
    stmt = select(ApiToken).order_by(ApiToken.id)
    if not include_revoked:
        stmt = stmt.where(ApiToken.revoked_at.is_(None))
    return [to_view(row) for row in session.scalars(stmt)]


def revoke(session: Session, token_id: int) -> TokenView:
    """Revoke a token for good: every later request with it gets 401."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no API token with id {token_id}", token_id=token_id)
    if row.revoked_at is not None:
        raise Conflict(f"API token {token_id} ({row.name}) is already revoked", token_id=token_id)
    row.revoked_at = datetime.now(UTC)
    session.flush()
    return to_view(row)
