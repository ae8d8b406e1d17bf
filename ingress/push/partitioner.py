"""Kafka's default partitioner (murmur2 of the key, as the Java client and aiokafka), faster.

aiokafka's pure-Python ``murmur2`` was the largest cost of a 1000-event push in the profile; this
version reads the key as 32-bit words at once (same results, unit-tested against aiokafka's) and
a bounded cache skips it for keys pushed again (the usual case: the same customer, metric and
period updated over and over).
"""

from __future__ import annotations

import struct

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    length = len(data)
    h = _SEED ^ length
    words = length // 4
    for k in struct.unpack_from(f"<{words}I", data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    base = length & ~3
    if tail >= 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h ^= data[base]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


class KeyPartitioner:
    """``partition_for(key, count)`` = ``(murmur2(key) & 0x7fffffff) % count``, with a bounded cache."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._hashes: dict[bytes, int] = {}

    def partition_for(self, key: bytes, count: int) -> int:
        hashed = self._hashes.get(key)
        if hashed is None:
            hashed = murmur2(key) & 0x7FFFFFFF
            if len(self._hashes) >= self.max_entries:
                self._hashes.clear()
            self._hashes[key] = hashed
        return hashed % count
