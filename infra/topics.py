"""Kafka topic provisioning: the usage topic (partition count configurable) and its dead letters."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from core.settings import KafkaSettings


class PartitionCountMismatch(RuntimeError):
    """The usage topic exists with another partition count than configured (see streams docs)."""


async def provision_topics(settings: KafkaSettings) -> None:
    """Creates the topics that do not exist; refuses a usage topic whose partition count changed."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=settings.request_timeout_ms
    )
    await admin.start()
    try:
        wanted = {
            settings.usage_topic: settings.partitions,
            settings.dead_letter_topic: 1,
        }
        for topic, partitions in wanted.items():
            replication = settings.replication_factor
            new_topic = NewTopic(topic, num_partitions=partitions, replication_factor=replication)
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([new_topic])
        existing = await partition_counts(admin, [settings.usage_topic])
        actual = existing.get(settings.usage_topic)
        if actual is not None and actual != settings.partitions:
            raise PartitionCountMismatch(
                f"topic {settings.usage_topic!r} has {actual} partitions, configuration says "
                f"{settings.partitions}: changing it would move keys between partitions"
            )
    finally:
        await admin.close()


async def partition_counts(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    described = await admin.describe_topics(topics)
    return {entry["topic"]: len(entry["partitions"]) for entry in described if not entry.get("error_code")}
