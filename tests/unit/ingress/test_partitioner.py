from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference

from ingress.push.partitioner import KeyPartitioner, murmur2


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
