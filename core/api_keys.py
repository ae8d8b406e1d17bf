"""Organization API keys: random, prefixed so leaks are easy to find, stored only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from core.names import API_KEYS

API_KEY_PREFIX = "qvk_"
# Every organization's current key hash (the highest version): one row per organization.
CURRENT_KEY_HASHES_SQL = f"SELECT org_id, argMax(key_hash, version) FROM {API_KEYS} GROUP BY org_id"
_RANDOM_BYTES = 24  # 192 bits of entropy


def generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


def hash_api_key(api_key: str) -> str:
    """SHA-256 hex digest. A fast hash is enough: the key itself carries 192 random bits."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def looks_like_api_key(candidate: str) -> bool:
    return candidate.startswith(API_KEY_PREFIX) and 20 <= len(candidate) <= 128


def hashes_match(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode("ascii"), right.encode("ascii"))
