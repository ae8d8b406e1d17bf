from __future__ import annotations

import random

import orjson
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference

from ingress.push.partitioner import KeyPartitioner, murmur2, murmur2_many


def test_murmur2_matches_the_kafka_default_partitioner() -> None:
    rng = random.Random(7)
    keys = [b"", b"a", b"ab", b"abc", b"abcd", b"abcde"] + [
        rng.randbytes(rng.randint(0, 200)) for _ in range(500)
    ]
    partitioner = KeyPartitioner(max_entries=100)
    for key in keys:
        assert murmur2(key) == reference(key)
        for count in (1, 3, 6, 12):
            assert partitioner.partition_for(key, count) == DefaultPartitioner()(key, list(range(count)), [])


def test_many_keys_hash_column_wise_as_one_by_one() -> None:
    rng = random.Random(11)
    keys = [b"", b"a", b"ab", b"abc", b"abcd", b"abcde"] + [
        rng.randbytes(rng.randint(0, 120)) for _ in range(3000)
    ]
    assert murmur2_many(keys) == [reference(key) for key in keys]
    partitioner = KeyPartitioner(many=100)
    expected = [DefaultPartitioner()(key, list(range(6)), []) for key in keys]
    assert partitioner.partitions_for(keys, 6) == expected
    assert partitioner.partitions_for(keys[:50], 6) == expected[:50]
    assert partitioner.partitions_for([], 6) == []


def test_cached_keys_are_compact_copies() -> None:
    key = orjson.dumps(["org", "customer", "metric", "daily", "2026-01-01T00:00:00Z"])
    partitioner = KeyPartitioner()
    partitioner.partition_for(key, 6)
    (cached,) = partitioner._hashes
    assert cached == key and cached is not key
