"""Through the real broker: a consumer group commits, stops, and a new member resumes from the commit."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from core.settings import KafkaSettings

pytestmark = pytest.mark.kafka

# Short group timeouts: on Tansu a new member of a group that a member just left waits about twice
# the session timeout (4000 ms -> 8 s, 2000 ms -> 4 s), the first join half of it.
SESSION_TIMEOUT_MS = 2000
HEARTBEAT_MS = 500


def _consumer(settings: KafkaSettings, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        settings.usage_topic,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_MS,
    )


async def _produce(settings: KafkaSettings, values: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(settings.usage_topic, value.encode(), key=value.encode())
    finally:
        await producer.stop()


async def _take(consumer: AIOKafkaConsumer, count: int, timeout_s: float = 15) -> list[str]:
    seen: list[str] = []

    async def loop() -> None:
        while len(seen) < count:
            batches = await consumer.getmany(timeout_ms=200, max_records=count - len(seen))
            for records in batches.values():
                seen.extend(record.value.decode() for record in records if record.value is not None)

    await asyncio.wait_for(loop(), timeout_s)
    return seen


async def _nothing_more(consumer: AIOKafkaConsumer, wait_s: float = 1.0) -> list[str]:
    batches = await consumer.getmany(timeout_ms=int(wait_s * 1000))
    return [record.value.decode() for records in batches.values() for record in records if record.value]


async def test_consumer_group_resumes_from_committed_offset(kafka_settings: KafkaSettings) -> None:
    group = f"group-{uuid.uuid4().hex[:8]}"
    first = [f"first-{i}" for i in range(12)]
    await _produce(kafka_settings, first)

    consumer = _consumer(kafka_settings, group)
    await consumer.start()
    try:
        got = await _take(consumer, len(first))
        assert sorted(got) == sorted(first)
        await consumer.commit()
    finally:
        await consumer.stop()

    committed = await _committed_offsets(kafka_settings, group)
    assert sum(committed.values()) == len(first)

    second = [f"second-{i}" for i in range(9)]
    await _produce(kafka_settings, second)

    restarted = _consumer(kafka_settings, group)
    await restarted.start()
    try:
        got = await _take(restarted, len(second))
        assert sorted(got) == sorted(second)  # exactly the uncommitted records, none of the first batch
        assert await _nothing_more(restarted) == []
    finally:
        await restarted.stop()


async def _committed_offsets(settings: KafkaSettings, group: str) -> dict[int, int]:
    """Committed offset per partition (explicit partitions: Tansu breaks on the implicit form)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        partitions = [TopicPartition(settings.usage_topic, p) for p in range(settings.partitions)]
        offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
