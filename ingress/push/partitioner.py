"""Kafka's default partitioner (murmur2 of the key, as the Java client and aiokafka), faster.

aiokafka's pure-Python ``murmur2`` was the largest cost of a 1000-event push in the profile; this
version reads the key as 32-bit words at once (same results, unit-tested against aiokafka's) and
a bounded cache skips it for keys pushed again (the usual case: the same customer, metric and
period updated over and over). Many keys at once (a warehouse page) are hashed together with
numpy (~0.3 µs a key instead of ~6) and not cached (a run's keys are mostly new ones).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

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


_M32 = np.uint32(_M)


def murmur2_many(keys: Sequence[bytes]) -> list[int]:
    """``murmur2`` of every key, computed column-wise over the keys of each length."""
    hashes = np.zeros(len(keys), dtype=np.uint32)
    lengths = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
    for length in np.unique(lengths).tolist():
        where = np.flatnonzero(lengths == length)
        joined = b"".join([keys[i] for i in where.tolist()])
        data = np.frombuffer(joined, dtype=np.uint8).reshape(len(where), length)
        h = np.full(len(where), _SEED ^ length, dtype=np.uint32)
        base = length & ~3
        if base:
            words = np.ascontiguousarray(data[:, :base]).view("<u4").T.copy()  # one row per word
            for column in words:
                k = column * _M32
                k ^= k >> np.uint32(24)
                k *= _M32
                h = (h * _M32) ^ k
        tail = length & 3
        if tail >= 3:
            h ^= data[:, base + 2].astype(np.uint32) << np.uint32(16)
        if tail >= 2:
            h ^= data[:, base + 1].astype(np.uint32) << np.uint32(8)
        if tail >= 1:
            h ^= data[:, base].astype(np.uint32)
            h *= _M32
        h ^= h >> np.uint32(13)
        h *= _M32
        h ^= h >> np.uint32(15)
        hashes[where] = h
    result: list[int] = hashes.tolist()
    return result


class KeyPartitioner:
    """``partition_for(key, count)`` = ``(murmur2(key) & 0x7fffffff) % count``, with a bounded cache."""

    def __init__(self, max_entries: int = 200_000, many: int = 2_000) -> None:
        self.max_entries = max_entries
        self.many = many
        self._hashes: dict[bytes, int] = {}

    def partition_for(self, key: bytes, count: int) -> int:
        hashed = self._hashes.get(key)
        if hashed is None:
            hashed = murmur2(key) & 0x7FFFFFFF
            if len(self._hashes) >= self.max_entries:
                self._hashes.clear()
            # A copy: a key fresh from orjson.dumps keeps ~4 KB of resident memory while it lives.
            self._hashes[bytes(memoryview(key))] = hashed
        return hashed % count

    def partitions_for(self, keys: Sequence[bytes], count: int) -> list[int]:
        """``partition_for`` of every key: one by one (cached) for a few, column-wise for many."""
        if len(keys) < self.many:
            partition_for = self.partition_for
            return [partition_for(key, count) for key in keys]
        return [(hashed & 0x7FFFFFFF) % count for hashed in murmur2_many(keys)]
