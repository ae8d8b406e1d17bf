"""Bearer-key authentication against a short-lived index of key hashes (pure: loading is injected).

Only hashes of keys are ever kept.
"""

from __future__ import annotations

import threading
import time
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
    """Maps an API key to its organization from an index of every organization's current key
    hash, loaded at most once per ``ttl_s`` (one small query, whatever keys are presented).

    A flood of random keys therefore costs no lookup each: an unknown key is refused from the
    index. A rotated-away key stops working, and a new key starts working, within ``ttl_s``
    (≤ 2 s) of the change reaching ClickHouse.
    """

    def __init__(
        self,
        load_index: Callable[[], dict[str, str]],
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load_index = load_index  # key hash -> org_id, for every organization's current key
        self._ttl_s = ttl_s
        self._clock = clock
        self._index: dict[str, str] = {}
        self._loaded_at: float | None = None
        self._loading = threading.Lock()

    def cached(self, api_key: str) -> tuple[bool, str | None]:
        """(True, answer) while the index is fresh (no lookup: callable from the event loop)."""
        if not self._fresh():
            return False, None
        return True, self._index.get(hash_api_key(api_key))

    def org_for_key(self, api_key: str) -> str | None:
        """The answer, loading the index first when it is stale (one loader at a time)."""
        with self._loading:
            if not self._fresh():
                started = self._clock()
                self._index = self._load_index()
                self._loaded_at = started
        return self._index.get(hash_api_key(api_key))

    def _fresh(self) -> bool:
        return self._loaded_at is not None and self._clock() - self._loaded_at < self._ttl_s
