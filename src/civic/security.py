"""Web security shared by the staff pages of the ledger API and by the portal: password hashing
(argon2), signed session cookies, CSRF tokens, a login rate limiter, and a secret key that
refuses a placeholder in production. Imports nothing of ours but ``errors``."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from civic.errors import CivicError

PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev", "development"})
MIN_SECRET_LENGTH = 32
_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise CivicError("password: at least 8 characters")
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_secret_key(secret: str | None, *, production: bool) -> str:
    """The secret that signs session cookies. In production a missing, short or placeholder
    secret is refused; elsewhere a random one is made for this process (sessions then end when
    it stops)."""
    if secret and secret.strip().lower() not in PLACEHOLDER_SECRETS:
        if production and len(secret) < MIN_SECRET_LENGTH:
            raise CivicError(
                f"the secret key must be at least {MIN_SECRET_LENGTH} characters in production"
            )
        return secret
    if production:
        raise CivicError(
            "refusing to start: set a real secret key (CIVIC_SECRET_KEY), not a placeholder, "
            "in production"
        )
    return secrets.token_urlsafe(48)


@dataclass
class Sessions:
    """Signed, timestamped session cookies: the cookie holds the session data, signed with the
    secret key; a tampered or expired cookie reads as no session."""

    secret: str
    max_age: int = 8 * 3600
    cookie: str = "civic_session"
    _signer: URLSafeTimedSerializer = field(init=False)

    def __post_init__(self) -> None:
        self._signer = URLSafeTimedSerializer(self.secret, salt="civic-session")

    def dump(self, data: dict[str, Any]) -> str:
        return self._signer.dumps(data)

    def load(self, value: str | None) -> dict[str, Any] | None:
        if not value:
            return None
        try:
            data = self._signer.loads(value, max_age=self.max_age)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None

    def new(self, **data: Any) -> dict[str, Any]:
        """Session data with a fresh CSRF token."""
        return {**data, "csrf": secrets.token_urlsafe(32)}


def csrf_ok(session: dict[str, Any] | None, token: str | None) -> bool:
    """A form's CSRF token must equal the one in the signed session cookie."""
    if not session or not token:
        return False
    expected = str(session.get("csrf", ""))
    return bool(expected) and hmac.compare_digest(expected, token)


class RateLimiter:
    """At most ``limit`` attempts per key in ``window`` seconds (per process)."""

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _key(self, key: str) -> str:
        return sha256(key.encode()).hexdigest()

    def allow(self, key: str) -> bool:
        """Record an attempt; False if the key has used up its attempts."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(self._key(key), deque())
            while hits and now - hits[0] > self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def retry_after(self, key: str) -> int:
        with self._lock:
            hits = self._hits.get(self._key(key))
            if not hits:
                return 0
            return max(1, int(self.window - (time.monotonic() - hits[0])) + 1)

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(self._key(key), None)
