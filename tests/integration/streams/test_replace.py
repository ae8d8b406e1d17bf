"""Replace semantics and replays, against the real broker and ClickHouse."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DeleteGroupsRequest

from core.settings import ClickHouseSettings, KafkaSettings
from tests.integration.streams.conftest import WorkerFactory
from tests.integration.streams.helpers import (
    current_values,
    last_write_wins,
    produce,
    record,
    snapshot,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]


async def reset_group_offsets(kafka: KafkaSettings, group: str) -> None:
    """Deletes the (stopped) worker's consumer group: its committed offsets are gone, so the worker
    starts again from the earliest offset (``consumer_auto_offset_reset="earliest"``)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        coordinator = await admin.find_coordinator(group)
        response = await admin._send_request_to_node(coordinator, DeleteGroupsRequest([group]))
        assert [error for _, error in response.results] == [0], response
    finally:
        await admin.close()


def test_replace_not_add_then_replays_change_nothing(
    kafka_settings: KafkaSettings, clickhouse_settings: ClickHouseSettings, worker_factory: WorkerFactory
) -> None:
    written = [
        record(customer="c1", value=1.0),
        record(customer="c1", value=5.0),
        record(customer="c1", value=3.0),  # replaces, does not add: 3 wins
        record(customer="c1", granularity="hourly", period="2026-11-20T10:00:00Z", value=7.0),
        record(customer="c1", granularity="hourly", period="2026-11-20T11:00:00Z", value=8.0),
        record(customer="c1", granularity="monthly", period="2026-11-01T00:00:00Z", value=9.0),
        record(customer="c2", value=2.0),
        record(customer="c2", metric="storage_gb", value=4.0),
    ]
    expected = last_write_wins(written)
    assert len(expected) == 6
    worker = worker_factory(kafka_settings, clickhouse_settings).start()
    asyncio.run(produce(kafka_settings, written))
    wait_for(lambda: current_values(clickhouse_settings) == expected, 40, "the replaced values")
    assert sorted(expected.values()) == [2.0, 3.0, 4.0, 7.0, 8.0, 9.0]
    worker.stop()
    current_before = snapshot(clickhouse_settings, "usage_events")
    history_before = snapshot(clickhouse_settings, "usage_event_history")
    assert len(history_before) == len(written)

    # Replay 1: the same worker state, committed offsets reset to 0: everything is re-consumed.
    asyncio.run(reset_group_offsets(kafka_settings, worker.app_id))
    sentinel = record(customer="sentinel-1", value=1.0)
    worker.start()
    asyncio.run(produce(kafka_settings, [sentinel]))
    wait_for(lambda: sentinel.event_id in current_values(clickhouse_settings), 40, "sentinel 1")
    worker.stop()
    assert [r for r in snapshot(clickhouse_settings, "usage_events") if str(r[5]) != sentinel.event_id] == (
        current_before
    )
    history_after = snapshot(clickhouse_settings, "usage_event_history")
    assert [r for r in history_after if str(r[5]) != sentinel.event_id] == history_before

    # Replay 2: a worker with empty state reads the whole log again: the same versions come out.
    sentinel2 = record(customer="sentinel-2", value=1.0)
    fresh = worker_factory(kafka_settings, clickhouse_settings).start()
    asyncio.run(produce(kafka_settings, [sentinel2]))
    wait_for(lambda: sentinel2.event_id in current_values(clickhouse_settings), 40, "sentinel 2")
    fresh.stop()
    ignored = {sentinel.event_id, sentinel2.event_id}
    assert [
        r for r in snapshot(clickhouse_settings, "usage_events") if str(r[5]) not in ignored
    ] == current_before
    assert [r for r in snapshot(clickhouse_settings, "usage_event_history") if str(r[5]) not in ignored] == (
        history_before
    )


BATCH_LINE = re.compile(r"batch: (\d+) records, (\d+) rows, (\d+) replays")


def batch_totals(log_text: str) -> tuple[int, int, int]:
    """(records, rows, replays) summed over the worker's ``batch:`` log lines."""
    totals = [0, 0, 0]
    for match in BATCH_LINE.finditer(log_text):
        for i in range(3):
            totals[i] += int(match.group(i + 1))
    return totals[0], totals[1], totals[2]


def test_state_recovered_from_a_changelog_produced_in_batches(
    kafka_settings: KafkaSettings, clickhouse_settings: ClickHouseSettings, worker_factory: WorkerFactory
) -> None:
    # Many keys per sink batch: Faust's producer writes the changelog in multi-record batches, for
    # which Tansu's ListOffsets is too low (streams.transport corrects it). If recovery stopped
    # early, the replayed records of the lost keys would be applied again instead of skipped.
    written = [record(customer=f"c{i % 600}", metric=f"m{i % 3}", value=float(i)) for i in range(3_000)]
    expected = last_write_wins(written)
    worker = worker_factory(kafka_settings, clickhouse_settings).start()
    asyncio.run(produce(kafka_settings, written))
    wait_for(lambda: current_values(clickhouse_settings) == expected, 60, "all keys")
    worker.stop()
    history_before = snapshot(clickhouse_settings, "usage_event_history")

    # Same app id (same changelog), empty local state, committed offsets deleted: the worker
    # rebuilds its table from the changelog, then re-consumes the whole log.
    asyncio.run(reset_group_offsets(kafka_settings, worker.app_id))
    log_start = worker.log_path.stat().st_size
    recovered = worker_factory(
        kafka_settings, clickhouse_settings, app_id=worker.app_id, data_dir=worker.data_dir.with_name("b")
    ).start()
    sentinel = record(customer="sentinel", value=1.0)
    asyncio.run(produce(kafka_settings, [sentinel]))

    def totals() -> tuple[int, int, int]:
        return batch_totals(recovered.log_path.read_bytes()[log_start:].decode())

    wait_for(lambda: totals()[0] >= len(written) + 1, 60, "the whole log re-consumed")
    wait_for(lambda: sentinel.event_id in current_values(clickhouse_settings), 30, "the sentinel")
    recovered.stop()
    assert totals() == (len(written) + 1, 1, len(written))  # (records, rows, replays)
    history = snapshot(clickhouse_settings, "usage_event_history")
    assert [r for r in history if str(r[5]) != sentinel.event_id] == history_before
