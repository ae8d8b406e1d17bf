"""Panel sessions and CSRF tokens (pure: no web framework).

The session cookie is an itsdangerous-signed, timestamped payload holding only a random CSRF token.
The signing key is derived from the admin token, so rotating the admin token signs everybody out.
The admin token itself is never stored in the cookie or put in a URL.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "quivly_panel_session"
LOGIN_COOKIE = "quivly_panel_login"
SESSION_MAX_AGE_S = 8 * 3600
LOGIN_MAX_AGE_S = 3600
KEY_FLASH_COOKIE = "quivly_panel_new_key"
KEY_FLASH_MAX_AGE_S = 120


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
        self._keys = URLSafeTimedSerializer(secret, salt="panel-new-key")
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
        """Carries a just-generated key across the redirect after the POST (read once, then deleted)."""
        return self._keys.dumps({"org": org_id, "key": api_key})

    def read_key_flash(self, cookie: str | None, org_id: str) -> str | None:
        data = _loads(self._keys, cookie, KEY_FLASH_MAX_AGE_S)
        if isinstance(data, dict) and data.get("org") == org_id and isinstance(data.get("key"), str):
            return str(data["key"])
        return None


def check_csrf(session: Session, submitted: str | None) -> bool:
    return bool(submitted) and tokens_equal(submitted or "", session.csrf_token)


def _loads(serializer: URLSafeTimedSerializer, cookie: str | None, max_age_s: int) -> object:
    if not cookie:
        return None
    try:
        return serializer.loads(cookie, max_age=max_age_s)
    except BadSignature:  # also covers SignatureExpired
        return None
