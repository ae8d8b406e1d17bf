from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ApiError
from ingress.push.idempotency import IdempotencyGuard, StoredResponse, fingerprint, valid_idempotency_key
from ingress.push.rate_limit import SlidingWindowLimiter


def test_limit_per_org_and_retry_after_is_enough() -> None:
    limiter = SlidingWindowLimiter(limit=3, window_s=60)
    assert [limiter.admit("a", t) for t in (0.0, 10.0, 20.5)] == [None, None, None]
    assert limiter.admit("b", 21.0) is None  # other organization unaffected
    retry = limiter.admit("a", 30.0)
    assert retry == 30
    assert limiter.admit("a", 30.0 + retry - 0.001) is not None
    assert limiter.admit("a", 30.0 + retry) is None  # waiting Retry-After is enough


def test_rejected_requests_do_not_extend_the_wait() -> None:
    limiter = SlidingWindowLimiter(limit=1, window_s=60)
    assert limiter.admit("a", 0.0) is None
    for t in range(1, 59):
        assert limiter.admit("a", float(t)) is not None
    assert limiter.admit("a", 60.0) is None


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    limiter = SlidingWindowLimiter(limit=1, window_s=1)
    limiter.admit("a", 0.0)
    assert limiter.admit("a", 0.999) == 1
    limiter.forget_idle(10.0)
    assert limiter.admit("a", 10.0) is None


class MemoryStore:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], StoredResponse] = {}

    async def get(self, org_id: str, key: str, not_before: datetime) -> StoredResponse | None:
        row = self.rows.get((org_id, key))
        return row if row is not None and row.created_at >= not_before else None

    async def put(self, org_id: str, key: str, response: StoredResponse) -> None:
        self.rows.setdefault((org_id, key), response)


NOW = datetime(2026, 6, 11, tzinfo=UTC)


async def test_guard_replays_conflicts_and_rejects_reuse() -> None:
    store = MemoryStore()
    guard = IdempotencyGuard(store, timedelta(hours=24), cache_entries=10, retry_after_s=5)
    fp = fingerprint(b"{}", False)
    assert await guard.begin("org", "k", fp, NOW) is None
    with pytest.raises(ApiError) as in_use:
        await guard.begin("org", "k", fp, NOW)
    assert (in_use.value.status_code, in_use.value.code) == (409, "IDEMPOTENCY_KEY_IN_USE")
    await guard.finish("org", "k", StoredResponse(fp, 200, b'{"ok":1}', NOW))
    replay = await guard.begin("org", "k", fp, NOW)
    assert replay is not None and replay.body == b'{"ok":1}'
    with pytest.raises(ApiError) as reused:
        await guard.begin("org", "k", fingerprint(b"{}", True), NOW)
    assert (reused.value.status_code, reused.value.code) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert await guard.begin("other-org", "k", fp, NOW) is None  # keys are per organization


async def test_guard_stores_only_200_and_422_and_reads_through_the_store() -> None:
    store = MemoryStore()
    guard = IdempotencyGuard(store, timedelta(hours=24), cache_entries=0, retry_after_s=5)
    assert await guard.begin("org", "k", "fp", NOW) is None
    await guard.finish("org", "k", StoredResponse("fp", 503, b"{}", NOW))
    assert store.rows == {}
    assert await guard.begin("org", "k", "fp", NOW) is None  # retry allowed after a 503
    await guard.finish("org", "k", StoredResponse("fp", 422, b"{}", NOW))
    fresh = IdempotencyGuard(
        store, timedelta(hours=24), cache_entries=10, retry_after_s=5
    )  # e.g. after a restart
    stored = await fresh.begin("org", "k", "fp", NOW + timedelta(hours=23))
    assert stored is not None and stored.status_code == 422
    assert await fresh.begin("org", "k2", "fp", NOW) is None
    expired = IdempotencyGuard(store, timedelta(hours=24), cache_entries=10, retry_after_s=5)
    assert await expired.begin("org", "k", "fp", NOW + timedelta(hours=25)) is None


def test_key_format() -> None:
    assert valid_idempotency_key("a" * 255) and valid_idempotency_key("x y~!")
    assert not valid_idempotency_key("") and not valid_idempotency_key("a" * 256)
    assert not valid_idempotency_key("tab\there") and not valid_idempotency_key("é")


class BrokenStore:
    async def get(self, org_id: str, key: str, not_before: datetime) -> StoredResponse | None:
        raise ConnectionError("clickhouse down")

    async def put(self, org_id: str, key: str, response: StoredResponse) -> None:
        raise ConnectionError("clickhouse down")


async def test_unreadable_store_is_503_and_releases_the_key() -> None:
    guard = IdempotencyGuard(BrokenStore(), timedelta(hours=24), cache_entries=10, retry_after_s=9)
    for _ in range(2):  # the key is not left "in flight"
        with pytest.raises(ApiError) as failed:
            await guard.begin("org", "k", "fp", NOW)
        # QUIVLY_INGRESS_UNAVAILABLE_RETRY_AFTER_S, not a constant
        assert failed.value.status_code == 503 and failed.value.headers["Retry-After"] == "9"


async def test_unwritable_store_keeps_the_answer_locally() -> None:
    store = MemoryStore()
    guard = IdempotencyGuard(store, timedelta(hours=24), cache_entries=10, retry_after_s=5)
    assert await guard.begin("org", "k", "fp", NOW) is None
    guard.store = BrokenStore()
    await guard.finish("org", "k", StoredResponse("fp", 200, b"{}", NOW))
    replay = await guard.begin("org", "k", "fp", NOW)
    assert replay is not None and replay.status_code == 200
