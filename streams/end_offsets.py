"""Correct changelog end offsets on Tansu (public aiokafka API only).

Faust recovers a table by reading its changelog up to the end offset that ``ListOffsets(latest)``
reports. Tansu 0.6 answers with the base offset of the partition's *last batch* + 1 (measured: a
5-record batch at offsets 0-4 gives 1, a 7-record batch at 6-12 gives 7), so recovery stopped
early and lost state whenever the changelog was produced in multi-record batches. The high
watermark in a *Fetch* response is correct on Tansu (measured: 5, 6, 13, 16 for those batches),
and on Kafka both answers are equal. So the end offset used for recovery (and by
``streams.local_state``) is ``max(ListOffsets, Fetch high watermark read from ListOffsets - 1)``:
correct on both, and never lower than what Faust used before. The changelog can then be produced
in normal batches. Faust's consumer uses this through ``streams.faust_internals``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiokafka
from faust.types import TP

# How long a recovery waits for the fetch that corrects an end offset before giving up (raising:
# a recovery with a too-low end offset would silently lose table state).
END_OFFSET_FETCH_TIMEOUT_S = 30.0


def corrected_end_offsets(listed: Mapping[TP, int], fetched_highwaters: Mapping[TP, int]) -> dict[TP, int]:
    """The end offset of each partition: never below the listed one, raised to the fetch's."""
    return {tp: max(offset, fetched_highwaters.get(tp, offset)) for tp, offset in listed.items()}


async def fetch_highwaters(
    consumer: aiokafka.AIOKafkaConsumer, listed: Mapping[TP, int], timeout_s: float
) -> dict[TP, int]:
    """High watermarks from Fetch responses, reading each non-empty partition at ``listed - 1``."""
    wanted = {tp: offset for tp, offset in listed.items() if offset and offset > 0}
    if not wanted:
        return {}
    partitions = [aiokafka.TopicPartition(tp.topic, tp.partition) for tp in wanted]
    consumer.assign(partitions)
    for partition in partitions:
        consumer.seek(partition, wanted[TP(partition.topic, partition.partition)] - 1)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    found: dict[TP, int] = {}
    while len(found) < len(partitions):
        if loop.time() > deadline:
            missing = sorted(set(wanted) - set(found))
            raise RuntimeError(f"no fetch response to correct the end offsets of {missing}")
        await consumer.getmany(*partitions, timeout_ms=500, max_records=1)
        for partition in partitions:
            highwater = consumer.highwater(partition)
            if highwater is not None:
                found[TP(partition.topic, partition.partition)] = highwater
    return found
