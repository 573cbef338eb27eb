"""API tokens: made with a readable prefix, stored only as a SHA-256, verified by scope,
stamped when used, revoked for good. On both backends."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from civic.db import read_only, transaction
from civic.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from civic.ledger import tokens
from civic.ledger.tables import ApiToken

READ = tokens.SCOPE_CUSTOMERS_READ
FEED = tokens.SCOPE_CHANGES_READ


def make(engine, *scopes: str, name: str = "portal-sync") -> tuple[str, int]:
    with transaction(engine) as s:
        plaintext, row = tokens.create(s, name, scopes)
        return plaintext, row.id


def test_scopes_are_named_constants():
    assert (READ, FEED) == ("customers:read", "changes:read")
    assert tokens.SCOPES == (READ, FEED)


def test_a_token_is_stored_as_its_hash_never_in_plaintext(engine):
    plaintext, token_id = make(engine, READ)

    assert plaintext.startswith("cl_") and len(plaintext) >= 40
    with read_only(engine) as s:
        row = s.get(ApiToken, token_id)
        assert row is not None
        stored = [str(getattr(row, c.key)) for c in ApiToken.__table__.columns]
    assert row.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert row.prefix == plaintext[: tokens.PREFIX_LENGTH]
    assert row.scopes == READ
    assert not any(plaintext in value for value in stored)
    assert row.revoked_at is None and row.last_used_at is None


def test_every_token_is_different(engine):
    made = {make(engine, READ)[0] for _ in range(5)}
    assert len(made) == 5


def test_scopes_are_checked_and_kept_in_order(engine):
    with transaction(engine) as s:
        _plain, row = tokens.create(s, " both ", [FEED, "CUSTOMERS:READ", FEED])
        assert (row.name, tokens.to_view(row).scopes) == ("both", (READ, FEED))
        with pytest.raises(InvalidInput, match="customers:write is not a scope"):
            tokens.create(s, "x", ["customers:write"])
        with pytest.raises(InvalidInput, match="at least one scope"):
            tokens.create(s, "x", [])
        with pytest.raises(InvalidInput, match="name"):
            tokens.create(s, "  ", [READ])
        with pytest.raises(InvalidInput, match="name"):
            tokens.create(s, "n" * 61, [READ])


def test_verify_accepts_the_token_with_the_scope(engine):
    plaintext, token_id = make(engine, READ, FEED)
    with transaction(engine) as s:
        assert tokens.verify(s, plaintext, READ).id == token_id
        assert tokens.verify(s, f"  {plaintext}\n", FEED).id == token_id


def test_verify_refuses_unknown_tokens_and_missing_scopes(engine):
    plaintext, token_id = make(engine, READ)
    with transaction(engine) as s:
        with pytest.raises(Unauthorized, match="unknown"):
            tokens.verify(s, plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"), READ)
        with pytest.raises(Unauthorized):
            tokens.verify(s, "password", READ)
        with pytest.raises(Unauthorized):
            tokens.verify(s, tokens.hash_token(plaintext), READ)
        with pytest.raises(Forbidden, match="lacks scope changes:read") as refused:
            tokens.verify(s, plaintext, FEED)
    assert refused.value.status == 403
    assert refused.value.details == {"token_id": token_id, "needed_scope": FEED, "scopes": [READ]}


def test_verify_stamps_last_used_at_most_once_a_minute(engine):
    plaintext, token_id = make(engine, READ)
    t0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    for at in (t0, t0 + timedelta(seconds=30), t0 + timedelta(minutes=2)):
        with transaction(engine) as s:
            tokens.verify(s, plaintext, READ, at=at)
        with read_only(engine) as s:
            (view,) = tokens.list_tokens(s)
        expected = t0 + timedelta(minutes=2) if at.minute == 2 else t0
        assert view.last_used_at == expected
        assert view.id == token_id


def test_revoke_is_for_good(engine):
    plaintext, token_id = make(engine, READ)
    _other, other_id = make(engine, READ, name="other")
    with transaction(engine) as s:
        view = tokens.revoke(s, token_id)
    assert view.revoked_at is not None and not view.active
    with transaction(engine) as s:
        with pytest.raises(Unauthorized, match="revoked"):
            tokens.verify(s, plaintext, READ)
        with pytest.raises(Conflict, match="already revoked"):
            tokens.revoke(s, token_id)
        with pytest.raises(NotFound):
            tokens.revoke(s, 424242)
    with read_only(engine) as s:
        assert [v.id for v in tokens.list_tokens(s)] == [token_id, other_id]
        assert [v.id for v in tokens.list_tokens(s, include_revoked=False)] == [other_id]


def test_the_api_stamps_last_used_after_a_request(api):
    plaintext, token_id = make(api.engine, READ)
    with api.client(plaintext) as client:
        assert client.get("/api/v1/customers").status_code == 200

    deadline = time.monotonic() + 10
    while True:  # recorded after the response went out, in its own transaction
        with read_only(api.engine) as s:
            used = s.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token_id))
        if used is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert used is not None
    assert datetime.now(UTC) - tokens.as_utc(used) < timedelta(minutes=5)
