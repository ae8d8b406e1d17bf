"""Idempotency-Key handling: fingerprint, in-flight guard, local cache over a durable store.

The durable store (ClickHouse, ``idempotency_store.py``) makes stored responses survive a restart
and replay on every replica. In-flight detection (409) is per replica: a duplicate sent to another
replica while the first is still running is processed again, which writes the same values under
the same replace keys (harmless), and the first completed response is the one replayed later.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from core.errors import ApiError, unavailable

log = logging.getLogger(__name__)
STORED_STATUSES = frozenset({200, 422})
MAX_KEY_CHARS = 255


@dataclass(frozen=True, slots=True)
class StoredResponse:
    fingerprint: str
    status_code: int
    body: bytes
    created_at: datetime


class ResponseStore(Protocol):
    async def get(self, org_id: str, key: str, not_before: datetime) -> StoredResponse | None: ...

    async def put(self, org_id: str, key: str, response: StoredResponse) -> None: ...


def valid_idempotency_key(key: str) -> bool:
    return 1 <= len(key) <= MAX_KEY_CHARS and all(" " <= char <= "~" for char in key)


def fingerprint(body: bytes, dry_run: bool) -> str:
    digest = hashlib.sha256(body)
    digest.update(b"\x00dry_run=1" if dry_run else b"\x00dry_run=0")
    return digest.hexdigest()


def key_in_use() -> ApiError:
    return ApiError(
        409, "IDEMPOTENCY_KEY_IN_USE", "A request with this Idempotency-Key is still being processed"
    )


def key_reused() -> ApiError:
    return ApiError(
        422,
        "IDEMPOTENCY_KEY_REUSED",
        "This Idempotency-Key was already used with a different request (body or dry_run)",
    )


class IdempotencyGuard:
    """Per replica: the keys in flight and a bounded cache of stored responses."""

    def __init__(
        self, store: ResponseStore, retention: timedelta, cache_entries: int, retry_after_s: int
    ) -> None:
        self.store = store
        self.retry_after_s = retry_after_s
        self.retention = retention
        self.cache_entries = cache_entries
        self._in_flight: set[tuple[str, str]] = set()
        self._cache: OrderedDict[tuple[str, str], StoredResponse] = OrderedDict()

    async def begin(self, org_id: str, key: str, print_: str, now: datetime) -> StoredResponse | None:
        """The stored response to replay, or None after claiming the key (call ``finish``).

        Raises 409 while the key is in flight here, 422 when it was used for another request.
        """
        slot = (org_id, key)
        if slot in self._in_flight:
            raise key_in_use()
        self._in_flight.add(slot)
        try:
            stored = await self._lookup(slot, now)
        except Exception as exc:
            self._in_flight.discard(slot)
            log.warning("idempotency store unavailable: %s", exc)
            raise unavailable(
                self.retry_after_s,
                "Stored idempotent responses cannot be read right now; nothing was processed, retry later",
            ) from exc
        except BaseException:
            self._in_flight.discard(slot)
            raise
        if stored is None:
            return None
        self._in_flight.discard(slot)
        if stored.fingerprint != print_:
            raise key_reused()
        return stored

    async def finish(self, org_id: str, key: str, response: StoredResponse | None) -> None:
        """Releases the key; stores ``response`` when its status is one that is kept (200, 422)."""
        slot = (org_id, key)
        try:
            if response is not None and response.status_code in STORED_STATUSES:
                self._remember(slot, response)
                try:
                    await self.store.put(org_id, key, response)
                except Exception as exc:  # the answer stands; only this replica will replay it
                    log.warning("idempotent response not stored durably: %s", exc)
        finally:
            self._in_flight.discard(slot)

    async def _lookup(self, slot: tuple[str, str], now: datetime) -> StoredResponse | None:
        not_before = now - self.retention
        cached = self._cache.get(slot)
        if cached is not None:
            if cached.created_at >= not_before:
                return cached
            del self._cache[slot]
        stored = await self.store.get(slot[0], slot[1], not_before)
        if stored is not None:
            self._remember(slot, stored)
        return stored

    def _remember(self, slot: tuple[str, str], response: StoredResponse) -> None:
        if self.cache_entries <= 0:
            return
        self._cache[slot] = response
        self._cache.move_to_end(slot)
        while len(self._cache) > self.cache_entries:
            self._cache.popitem(last=False)
