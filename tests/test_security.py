"""Passwords, session cookies, CSRF, the rate limiter and the production secret-key rule."""

from __future__ import annotations

import pytest

from civic.errors import CivicError
from civic.security import (
    RateLimiter,
    Sessions,
    check_secret_key,
    csrf_ok,
    hash_password,
    verify_password,
)


def test_passwords_are_hashed_with_argon2_and_verified() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2") and "correct horse" not in stored
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horsE")
    assert not verify_password("not a hash", "correct horse")
    with pytest.raises(CivicError, match="at least 8"):
        hash_password("short")


@pytest.mark.parametrize("placeholder", [None, "", "change-me", "secret", "CHANGEME"])
def test_production_refuses_a_placeholder_secret(placeholder: str | None) -> None:
    with pytest.raises(CivicError, match="refusing to start"):
        check_secret_key(placeholder, production=True)
    assert len(check_secret_key(placeholder, production=False)) >= 32  # random per process


def test_production_needs_a_long_secret() -> None:
    with pytest.raises(CivicError, match="at least 32"):
        check_secret_key("short-but-real", production=True)
    assert check_secret_key("x" * 40, production=True) == "x" * 40


def test_session_cookies_are_signed_and_carry_a_csrf_token() -> None:
    jar = Sessions("k" * 40)
    data = jar.new(staff_id=7)
    cookie = jar.dump(data)
    loaded = jar.load(cookie)
    assert loaded is not None and loaded["staff_id"] == 7
    assert csrf_ok(loaded, data["csrf"]) and not csrf_ok(loaded, "guess")
    assert not csrf_ok(None, data["csrf"])
    assert jar.load(cookie[:-2] + "xx") is None  # tampered
    assert Sessions("other-key" * 5).load(cookie) is None  # signed with another key
    assert Sessions("k" * 40, max_age=-1).load(cookie) is None  # expired


def test_rate_limiter_allows_a_few_attempts_per_window() -> None:
    limiter = RateLimiter(limit=3, window=60)
    assert [limiter.allow("ann|1.2.3.4") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("bob|1.2.3.4")  # another key is not affected
    assert limiter.retry_after("ann|1.2.3.4") > 0
    limiter.reset("ann|1.2.3.4")
    assert limiter.allow("ann|1.2.3.4")
