"""The topics the worker reads and writes, raw bytes in and out (decoding is ours, see batch.py)."""

from __future__ import annotations

import faust
from faust.types import TopicT

from core.settings import KafkaSettings


def usage_topic(app: faust.App, kafka: KafkaSettings) -> TopicT:
    return app.topic(
        kafka.usage_topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=kafka.partitions,
    )


def dead_letter_topic(app: faust.App, kafka: KafkaSettings) -> TopicT:
    return app.topic(
        kafka.dead_letter_topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=1,
    )
