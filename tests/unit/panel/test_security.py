from __future__ import annotations

import time

from ingress.panel.security import SessionCodec, check_csrf, derive_secret


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
