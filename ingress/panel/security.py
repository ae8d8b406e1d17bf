"""Panel sessions, CSRF tokens, sign-in throttling and the one-time key cookie (pure: no web
framework).

* The session cookie is an itsdangerous-signed, timestamped payload holding only a random CSRF
  token, which doubles as the session's ID. The signing key is derived from the admin token, so
  rotating the admin token signs everybody out. The admin token itself is never stored in a
  cookie or put in a URL.
* Signing out revokes the session: its ID stays in ``RevokedSessions`` until the cookie would
  have expired anyway, so a copy of the cookie no longer opens the panel.
* Failed sign-ins are throttled per client address (``SignInThrottle``).
* The one-time "new key" cookie is encrypted (Fernet: AES with an HMAC), so the key cannot be
  read from it, only shown by the panel.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "quivly_panel_session"
LOGIN_COOKIE = "quivly_panel_login"
SESSION_MAX_AGE_S = 8 * 3600
LOGIN_MAX_AGE_S = 3600
KEY_FLASH_COOKIE = "quivly_panel_new_key"
KEY_FLASH_MAX_AGE_S = 120
# Sign-in throttling: this many failures from one address are free, then each further attempt
# waits twice as long as the one before (1 s, 2 s, 4 s ...) up to the cap.
FREE_SIGN_IN_FAILURES = 5
MAX_SIGN_IN_WAIT_S = 300


def derive_secret(admin_token: str) -> str:
    """A signing key bound to the admin token (never the token itself)."""
    return hashlib.sha256(b"quivly-panel-session-v1\x00" + admin_token.encode()).hexdigest()


def tokens_equal(given: str, expected: str) -> bool:
    """Constant-time comparison of two strings."""
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True)
class Session:
    csrf_token: str


class SessionCodec:
    """Signs and verifies session and pre-login cookies."""

    def __init__(self, admin_token: str, max_age_s: int = SESSION_MAX_AGE_S) -> None:
        secret = derive_secret(admin_token)
        self._sessions = URLSafeTimedSerializer(secret, salt="panel-session")
        self._logins = URLSafeTimedSerializer(secret, salt="panel-login")
        self._keys = Fernet(_fernet_key(admin_token))
        self.max_age_s = max_age_s

    def new_session(self) -> tuple[Session, str]:
        session = Session(csrf_token=secrets.token_urlsafe(32))
        return session, self._sessions.dumps({"csrf": session.csrf_token})

    def read_session(self, cookie: str | None) -> Session | None:
        data = _loads(self._sessions, cookie, self.max_age_s)
        csrf = data.get("csrf") if isinstance(data, dict) else None
        return Session(csrf_token=csrf) if isinstance(csrf, str) and csrf else None

    def new_login_token(self) -> tuple[str, str]:
        """A CSRF token for the sign-in form and the signed cookie that carries it."""
        token = secrets.token_urlsafe(32)
        return token, self._logins.dumps(token)

    def check_login_token(self, cookie: str | None, submitted: str) -> bool:
        expected = _loads(self._logins, cookie, LOGIN_MAX_AGE_S)
        return isinstance(expected, str) and bool(submitted) and tokens_equal(submitted, expected)

    def new_key_flash(self, org_id: str, api_key: str) -> str:
        """Carries a just-generated key across the redirect after the POST (read once, then
        deleted), encrypted: the cookie does not reveal the key."""
        return self._keys.encrypt(f"{org_id}\n{api_key}".encode()).decode("ascii")

    def read_key_flash(self, cookie: str | None, org_id: str) -> str | None:
        if not cookie:
            return None
        try:
            plain = self._keys.decrypt(cookie.encode("ascii"), ttl=KEY_FLASH_MAX_AGE_S).decode()
        except (InvalidToken, UnicodeError):
            return None
        flash_org, _, api_key = plain.partition("\n")
        return api_key if flash_org == org_id and api_key else None


def _fernet_key(admin_token: str) -> bytes:
    digest = hashlib.sha256(b"quivly-panel-new-key-v1\x00" + admin_token.encode()).digest()
    return base64.urlsafe_b64encode(digest)


class RevokedSessions:
    """IDs of signed-out sessions, each kept until its cookie would have expired (per process)."""

    def __init__(
        self, max_age_s: int = SESSION_MAX_AGE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_age_s = max_age_s
        self._clock = clock
        self._revoked: OrderedDict[str, float] = OrderedDict()  # session id -> revoked at
        self._lock = threading.Lock()

    def revoke(self, session: Session) -> None:
        with self._lock:
            self._prune()
            self._revoked[session.csrf_token] = self._clock()

    def is_revoked(self, session: Session) -> bool:
        with self._lock:
            self._prune()
            return session.csrf_token in self._revoked

    def _prune(self) -> None:
        horizon = self._clock() - self._max_age_s
        while self._revoked and next(iter(self._revoked.values())) < horizon:
            self._revoked.popitem(last=False)


class SignInThrottle:
    """Failed sign-ins per client address: after ``FREE_SIGN_IN_FAILURES`` every attempt must
    wait (doubling, capped) — right or wrong tokens alike are refused until the wait is over."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_addresses: int = 10_000) -> None:
        self._clock = clock
        self._max_addresses = max_addresses
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # address -> (count, last)
        self._lock = threading.Lock()

    def wait_s(self, address: str) -> int:
        """Whole seconds this address must still wait before its next attempt (0: go ahead)."""
        with self._lock:
            count, last = self._failures.get(address, (0, 0.0))
        if count < FREE_SIGN_IN_FAILURES:
            return 0
        delay = min(2.0 ** (count - FREE_SIGN_IN_FAILURES), MAX_SIGN_IN_WAIT_S)
        return max(0, math.ceil(last + delay - self._clock()))

    def failed(self, address: str) -> None:
        with self._lock:
            count, _ = self._failures.pop(address, (0, 0.0))
            self._failures[address] = (count + 1, self._clock())
            while len(self._failures) > self._max_addresses:
                self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)


def check_csrf(session: Session, submitted: str | None) -> bool:
    return bool(submitted) and tokens_equal(submitted or "", session.csrf_token)


def _loads(serializer: URLSafeTimedSerializer, cookie: str | None, max_age_s: int) -> object:
    if not cookie:
        return None
    try:
        return serializer.loads(cookie, max_age=max_age_s)
    except BadSignature:  # also covers SignatureExpired
        return None
