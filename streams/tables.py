"""The replace-state table: keyed by the Kafka key, co-partitioned with the usage topic."""

from __future__ import annotations

import faust
from faust.types import TableT

from core.settings import KafkaSettings

STATE_TABLE = "replace-state"


def changelog_topic_name(app_id: str) -> str:
    return f"{app_id}-{STATE_TABLE}-changelog"


def state_table(app: faust.App, kafka: KafkaSettings) -> TableT:
    # Values are ``KeyState.to_bytes()``; the table is written only after the sink insert succeeded.
    return app.Table(
        STATE_TABLE,
        key_type=bytes,
        value_type=bytes,  # bytes types: Faust uses the "raw" codec for the changelog
        partitions=kafka.partitions,
    )
