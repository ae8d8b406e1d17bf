"""The topics the worker reads and writes, raw bytes in and out (decoding is ours, see batch.py)."""

from __future__ import annotations

from typing import Any

import faust
from faust.types import AppT, TopicT

from core.settings import KafkaSettings


class RawSchema(faust.Schema):
    """Keys and values stay the message's bytes, without Faust's serializer registry per message.

    Faust's ``Schema.compile`` (faust-streaming 0.15.3) decodes every message's key and value
    through the serializer registry and its codec lookups; with the ``raw`` codec both come out
    as the message's bytes anyway. This decode builds the same event directly. Sending (the
    dead-letter topic) is unchanged: serializers are ``raw`` both ways.
    """

    def compile(self, app: AppT, **_: Any) -> Any:
        create_event = app.create_event

        async def decode(message: Any, *, propagate: bool = False) -> Any:
            return create_event(message.key, message.value, message.headers, message)

        return decode


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
