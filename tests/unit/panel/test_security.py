from __future__ import annotations

import base64
import time

from ingress.panel.security import (
    FREE_SIGN_IN_FAILURES,
    RevokedSessions,
    SessionCodec,
    SignInThrottle,
    check_csrf,
    derive_secret,
)


def test_session_round_trip_and_csrf() -> None:
    codec = SessionCodec("admin-secret")
    session, cookie = codec.new_session()
    assert "admin-secret" not in cookie
    assert codec.read_session(cookie) == session
    assert check_csrf(session, session.csrf_token)
    assert not check_csrf(session, "forged")
    assert not check_csrf(session, None)


def test_tampered_missing_or_rotated_sessions_are_rejected() -> None:
    codec = SessionCodec("admin-secret")
    _, cookie = codec.new_session()
    assert codec.read_session(None) is None
    assert codec.read_session(cookie[:-2] + "xx") is None
    assert SessionCodec("rotated-token").read_session(cookie) is None
    assert derive_secret("a") != derive_secret("b")


def test_sessions_expire() -> None:
    codec = SessionCodec("admin-secret", max_age_s=1)
    _, cookie = codec.new_session()
    time.sleep(2.1)
    assert codec.read_session(cookie) is None


def test_login_token_must_match_its_cookie() -> None:
    codec = SessionCodec("admin-secret")
    token, cookie = codec.new_login_token()
    assert codec.check_login_token(cookie, token)
    assert not codec.check_login_token(cookie, "other")
    assert not codec.check_login_token(None, token)
    assert not codec.check_login_token(cookie, "")


def test_key_flash_is_bound_to_its_org() -> None:
    codec = SessionCodec("admin-secret")
    cookie = codec.new_key_flash("org-1", "qv_secret")
    assert codec.read_key_flash(cookie, "org-1") == "qv_secret"
    assert codec.read_key_flash(cookie, "org-2") is None
    assert SessionCodec("rotated").read_key_flash(cookie, "org-1") is None
    assert codec.read_key_flash(None, "org-1") is None


def test_the_key_flash_cookie_does_not_reveal_the_key() -> None:
    cookie = SessionCodec("admin-secret").new_key_flash("org-1", "qvk_secret_key_value")
    decoded = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    assert b"qvk_secret" not in decoded and "qvk_secret" not in cookie and b"org-1" not in decoded


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sign_in_throttle_doubles_the_wait_and_forgets_after_success() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock)
    for _ in range(FREE_SIGN_IN_FAILURES):
        assert throttle.wait_s("1.2.3.4") == 0
        throttle.failed("1.2.3.4")
    assert throttle.wait_s("1.2.3.4") == 1 and throttle.wait_s("5.6.7.8") == 0
    clock.now += 1
    throttle.failed("1.2.3.4")
    assert throttle.wait_s("1.2.3.4") == 2
    for _ in range(20):
        throttle.failed("1.2.3.4")
    assert throttle.wait_s("1.2.3.4") == 300  # capped
    throttle.succeeded("1.2.3.4")
    assert throttle.wait_s("1.2.3.4") == 0


def test_revoked_sessions_are_forgotten_once_their_cookie_expired() -> None:
    clock = Clock()
    revoked = RevokedSessions(max_age_s=10, clock=clock)
    session, _ = SessionCodec("admin-secret").new_session()
    revoked.revoke(session)
    assert revoked.is_revoked(session)
    clock.now += 11
    assert not revoked.is_revoked(session) and not revoked._revoked
