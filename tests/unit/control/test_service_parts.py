"""Admin auth, fresh-key memory and discovery buffer (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.errors import ApiError
from ingress.admin.auth import check_admin_authorization
from ingress.control.runtime import BufferedDiscovery
from ingress.control.service import FreshKeys


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, "t"),
        ("", "t"),
        ("Bearer", "t"),
        ("Bearer wrong", "t"),
        ("Basic t", "t"),
        ("t", "t"),
        ("Bearer ", ""),
    ],
)
def test_admin_auth_refuses(header: str | None, token: str) -> None:
    with pytest.raises(ApiError) as info:
        check_admin_authorization(header, token)
    assert info.value.status_code == 401 and info.value.code == "UNAUTHORIZED"


def test_admin_auth_accepts_the_token() -> None:
    check_admin_authorization("Bearer s3cret", "s3cret")
    check_admin_authorization("bearer s3cret", "s3cret")


def test_fresh_keys_expire() -> None:
    now = [100.0]
    keys = FreshKeys(ttl_s=600, clock=lambda: now[0])
    keys.remember("o", "qvk_1")
    assert keys.get("o") == "qvk_1"
    now[0] += 601
    assert keys.get("o") is None
    assert keys.get("other") is None


class _RecordingStore:
    def __init__(self, fail: bool = False) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.fail = fail

    def insert_sightings(self, rows: Any) -> None:
        if self.fail:
            raise ConnectionError("down")
        self.rows.extend(rows)


def test_discovery_buffers_min_and_max_and_retries_after_a_failure() -> None:
    store = _RecordingStore(fail=True)
    discovery = BufferedDiscovery(store)  # type: ignore[arg-type]
    t0 = datetime(2026, 6, 11, tzinfo=UTC)
    discovery.saw("o", ["a", "b"], t0)
    discovery.saw("o", ["a"], t0 + timedelta(hours=1))
    discovery.saw("o", ["a"], t0 - timedelta(hours=1))
    with pytest.raises(ConnectionError):
        discovery.flush()
    store.fail = False
    assert discovery.flush() == 2
    assert sorted(store.rows) == [
        ("o", "a", t0 - timedelta(hours=1), t0 + timedelta(hours=1)),
        ("o", "b", t0, t0),
    ]
    assert discovery.flush() == 0
