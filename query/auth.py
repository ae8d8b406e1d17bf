"""Bearer-key authentication with a short-lived lookup cache (pure: the lookup is injected).

Found and not-found answers are both kept for at most ``ttl_s`` (≤ 2 s), so a rotated-away key
stops working, and a new key starts working, within that time of the change reaching ClickHouse.
Only the hash of a key is ever kept.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from core.api_keys import hash_api_key

BEARER = "bearer"
MAX_AUTHORIZATION_LENGTH = 512


def bearer_key(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header; None when missing or malformed."""
    if not authorization or len(authorization) > MAX_AUTHORIZATION_LENGTH:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != BEARER or not key or any(c.isspace() for c in key):
        return None
    return key


class KeyResolver:
    """Maps an API key to its organization, caching each answer for ``ttl_s`` seconds."""

    def __init__(
        self,
        lookup: Callable[[str], str | None],
        ttl_s: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup  # key hash -> org_id of the current key with that hash, or None
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, str | None]] = OrderedDict()

    def cached(self, api_key: str) -> tuple[bool, str | None]:
        """(True, answer) when a fresh answer is cached (no lookup: callable from the event loop)."""
        cached = self._cache.get(hash_api_key(api_key))
        if cached is not None and self._clock() - cached[0] < self._ttl_s:
            return True, cached[1]
        return False, None

    def org_for_key(self, api_key: str) -> str | None:
        key_hash = hash_api_key(api_key)
        now = self._clock()
        cached = self._cache.get(key_hash)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        org_id = self._lookup(key_hash)
        if self._ttl_s > 0:
            self._remember(key_hash, now, org_id)
        return org_id

    def _remember(self, key_hash: str, now: float, org_id: str | None) -> None:
        self._cache[key_hash] = (now, org_id)
        self._cache.move_to_end(key_hash)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
