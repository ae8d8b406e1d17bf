"""The topics the worker reads and writes, raw bytes in and out (decoding is ours, see batch.py)."""

from __future__ import annotations

import faust
from faust.types import TopicT

from core.settings import KafkaSettings
from streams.faust_internals import RawSchema


def usage_topic(app: faust.App, kafka: KafkaSettings) -> TopicT:
    return _raw_topic(app, kafka.usage_topic, kafka.partitions)


def dead_letter_topic(app: faust.App, kafka: KafkaSettings) -> TopicT:
    return _raw_topic(app, kafka.dead_letter_topic, 1)


def _raw_topic(app: faust.App, name: str, partitions: int) -> TopicT:
    """Keys and values stay bytes: decoding is the agent's job, so a bad record can be dead-lettered."""
    return app.topic(
        name,
        schema=RawSchema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"),
        partitions=partitions,
    )
