"""Restarts that just work: local state from another log, and SIGTERM while ClickHouse is down."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from core.settings import ClickHouseSettings, KafkaSettings
from infra.local_components import LocalBroker
from infra.topics import provision_topics
from tests.integration.streams.conftest import WorkerFactory
from tests.integration.streams.helpers import current_values, last_write_wins, produce, record, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse, pytest.mark.slow]


def test_state_from_an_older_log_is_rebuilt_on_a_fresh_broker(
    kafka_settings: KafkaSettings,
    clickhouse_settings: ClickHouseSettings,
    worker_factory: WorkerFactory,
    tmp_path: Path,
    artifacts_dir: Path,
) -> None:
    # First life: many changelog records per partition in the worker's local state.
    first = [record(customer=f"c{i % 40}", value=float(i)) for i in range(400)]
    worker = worker_factory(kafka_settings, clickhouse_settings).start()
    asyncio.run(produce(kafka_settings, first))
    wait_for(lambda: current_values(clickhouse_settings) == last_write_wins(first), 60, "the first log")
    worker.stop()

    # A fresh broker (the local run's in-memory Tansu after a restart), same data directory.
    broker = LocalBroker.start(artifacts_dir / "streams" / "fresh-broker.log")
    try:
        fresh = kafka_settings.model_copy(update={"bootstrap_servers": broker.bootstrap_servers})
        asyncio.run(provision_topics(fresh))
        second = [record(customer=f"c{i % 3}", value=1000.0 + i) for i in range(6)]
        expected = {**last_write_wins(first), **last_write_wins(second)}
        again = worker_factory(fresh, clickhouse_settings, app_id=worker.app_id, data_dir=worker.data_dir)
        again.start()
        asyncio.run(produce(fresh, second))
        wait_for(lambda: current_values(clickhouse_settings) == expected, 60, "writes on the fresh broker")
        again.stop()

        # And once more: the local state now disagrees with the fresh broker's short changelog.
        third = [record(customer=f"c{i % 5}", value=2000.0 + i) for i in range(10)]
        expected.update(last_write_wins(third))
        again.start()
        asyncio.run(produce(fresh, third))
        wait_for(lambda: current_values(clickhouse_settings) == expected, 60, "writes after the restart")
        assert again.alive()
    finally:
        broker.stop()


def test_sigterm_stops_a_worker_within_bounded_time_while_clickhouse_is_down(
    kafka_settings: KafkaSettings,
    worker_factory: WorkerFactory,
) -> None:
    nowhere = ClickHouseSettings(url="http://127.0.0.1:9", database="absent")  # nothing listens
    worker = worker_factory(kafka_settings, nowhere).start()
    asyncio.run(produce(kafka_settings, [record(customer=f"c{i}") for i in range(50)]))
    time.sleep(12)  # joined, consuming, retrying the insert
    assert worker.alive() and worker.process is not None
    started = time.monotonic()
    os.killpg(worker.process.pid, signal.SIGTERM)
    worker.process.wait(timeout=60)
    assert time.monotonic() - started < 15
