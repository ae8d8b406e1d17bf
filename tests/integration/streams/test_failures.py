"""Failures: poison records, log reset, worker crashes (SIGKILL) and a ClickHouse outage."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from core.clickhouse import make_client
from core.dead_letters import StoredDeadLetter, select_dead_letters
from core.records import UsageRecord
from core.settings import ClickHouseSettings, KafkaSettings
from infra.local_components import LocalClickHouse
from infra.migrate import apply_migrations
from infra.topics import provision_topics
from streams.agents import ERROR_HEADER
from tests.integration.streams.conftest import WorkerFactory
from tests.integration.streams.helpers import current_values, last_write_wins, produce, record, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]


async def read_dead_letters(
    kafka: KafkaSettings, count: int, timeout_s: float = 30
) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(
        kafka.dead_letter_topic, bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[tuple[bytes, dict[str, bytes]]] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(found) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                found.extend((m.value or b"", dict(m.headers)) for m in messages)
    finally:
        await consumer.stop()
    return found


def test_poison_record_goes_to_dead_letters_and_the_stream_continues(
    kafka_settings: KafkaSettings, clickhouse_settings: ClickHouseSettings, worker_factory: WorkerFactory
) -> None:
    before, after = record(customer="before", value=1.0), record(customer="after", value=2.0)
    worker_factory(kafka_settings, clickhouse_settings).start()
    asyncio.run(produce(kafka_settings, [before, (before.key.to_bytes(), b"{not json"), after]))
    wait_for(lambda: current_values(clickhouse_settings) == last_write_wins([before, after]), 40, "good rows")
    letters = asyncio.run(read_dead_letters(kafka_settings, 1))
    assert len(letters) == 1
    value, headers = letters[0]
    assert value == b"{not json"
    assert b"not JSON" in headers[ERROR_HEADER]


def test_a_row_clickhouse_refuses_is_a_dead_letter_and_other_organizations_rows_land(
    kafka_settings: KafkaSettings, clickhouse_settings: ClickHouseSettings, worker_factory: WorkerFactory
) -> None:
    # Produced straight to the topic: a period ClickHouse's DateTime cannot hold (ends in 2106),
    # whatever ingress accepts. Around it, other organizations' rows, in the same batches.
    good = [record(org=f"org-{i % 4}", customer=f"c{i}", value=float(i)) for i in range(60)]
    poison = record(org="hostile", customer="p", period="2150-01-01T00:00:00Z", value=9.0)
    after = [record(org="org-late", customer=f"l{i}", value=float(i)) for i in range(10)]
    worker_factory(kafka_settings, clickhouse_settings).start()
    asyncio.run(produce(kafka_settings, [*good[:30], poison, *good[30:]]))
    asyncio.run(produce(kafka_settings, after))
    expected = last_write_wins(good + after)
    wait_for(lambda: current_values(clickhouse_settings) == expected, 60, "every good row")
    letters = asyncio.run(read_dead_letters(kafka_settings, 1))
    assert [value for value, _ in letters] == [poison.to_bytes()]
    assert b"ClickHouse refused the row" in letters[0][1][ERROR_HEADER]
    assert b"period_start" in letters[0][1][ERROR_HEADER]

    def recorded() -> list[StoredDeadLetter]:
        client = make_client(clickhouse_settings)
        try:
            return select_dead_letters(client, org_id="hostile")
        finally:
            client.close()

    wait_for(lambda: len(recorded()) == 1, 30, "the dead letter in ClickHouse")
    (letter,) = recorded()
    assert letter.record == poison.to_bytes() and letter.record_key == poison.key.to_bytes()
    assert letter.reason.startswith("ClickHouse refused the row") and "period_start" in letter.reason


def test_a_batch_mixing_more_months_than_the_partition_limit_is_stored(
    kafka_settings: KafkaSettings, clickhouse_settings: ClickHouseSettings, worker_factory: WorkerFactory
) -> None:
    months = [f"{2000 + i // 12}-{i % 12 + 1:02d}-01T00:00:00Z" for i in range(101)]
    records = [
        record(org=f"org-{tenant}", granularity="monthly", period=month, value=float(i))
        for i, month in enumerate(months)
        for tenant in range(3)
    ]
    asyncio.run(produce(kafka_settings, records))  # before the worker starts: one batch
    worker_factory(kafka_settings, clickhouse_settings).start()
    wait_for(lambda: current_values(clickhouse_settings) == last_write_wins(records), 60, "the backfill")


def test_writes_after_a_log_reset_win_over_rows_already_in_clickhouse(
    kafka_settings: KafkaSettings, clickhouse_settings: ClickHouseSettings, worker_factory: WorkerFactory
) -> None:
    customers = [f"c{i}" for i in range(5)]
    first = [record(customer=c, value=float(v)) for v in range(1, 21) for c in customers]  # offsets grow high
    worker = worker_factory(kafka_settings, clickhouse_settings).start()
    asyncio.run(produce(kafka_settings, first))
    wait_for(lambda: set(current_values(clickhouse_settings).values()) == {20.0}, 40, "the first log")
    worker.stop()

    # A recreated topic (offsets start at 0 again) read by the same worker, whose local state survived.
    second_log = kafka_settings.model_copy(update={"usage_topic": f"{kafka_settings.usage_topic}_reset1"})
    asyncio.run(provision_topics(second_log))
    second = [record(customer=c, value=100.0) for c in customers]
    stale = worker_factory(
        second_log, clickhouse_settings, app_id=worker.app_id, data_dir=worker.data_dir
    ).start()
    asyncio.run(produce(second_log, second))
    wait_for(lambda: set(current_values(clickhouse_settings).values()) == {100.0}, 40, "writes after reset 1")
    stale.stop()

    # And a new log with empty worker state (a new cluster).
    third_log = kafka_settings.model_copy(update={"usage_topic": f"{kafka_settings.usage_topic}_reset2"})
    asyncio.run(provision_topics(third_log))
    third = [record(customer=c, value=200.0) for c in customers]
    worker_factory(third_log, clickhouse_settings).start()
    asyncio.run(produce(third_log, third))
    wait_for(
        lambda: current_values(clickhouse_settings) == last_write_wins(third), 40, "writes after reset 2"
    )


def stream_in_background(
    kafka: KafkaSettings, records: list[UsageRecord], chunks: int, pause_s: float
) -> threading.Thread:
    size = len(records) // chunks + 1

    async def run() -> None:
        for start in range(0, len(records), size):
            await produce(kafka, records[start : start + size])
            await asyncio.sleep(pause_s)

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    return thread


def many_records(count: int, keys: int, seed: int) -> list[UsageRecord]:
    rng = random.Random(seed)
    return [
        record(customer=f"cust-{rng.randrange(keys)}", metric=rng.choice(["a", "b"]), value=float(i))
        for i in range(count)
    ]


@pytest.mark.slow
def test_sigkill_during_a_stream_loses_nothing_and_adds_nothing(
    kafka_settings: KafkaSettings, clickhouse_settings: ClickHouseSettings, worker_factory: WorkerFactory
) -> None:
    records = many_records(30_000, keys=1_500, seed=7)
    expected = last_write_wins(records)
    worker = worker_factory(kafka_settings, clickhouse_settings, QUIVLY_STREAMS_BATCH_MAX_ROWS="2000").start()
    producer = stream_in_background(kafka_settings, records, chunks=15, pause_s=0.6)
    for pause in (6.0, 7.0, 7.0):  # a worker is ready about 4 s after its start
        time.sleep(pause)
        worker.kill()
        worker.start()
    producer.join(timeout=120)
    assert not producer.is_alive()
    wait_for(lambda: current_values(clickhouse_settings) == expected, 120, "last-write-wins after crashes")
    client = make_client(clickhouse_settings)
    try:
        history = client.query("SELECT count() FROM usage_event_history FINAL").result_rows[0][0]
    finally:
        client.close()
    assert history == len(records)  # every write exactly once in the audit table


@pytest.mark.slow
def test_clickhouse_outage_delays_but_loses_nothing(
    kafka_settings: KafkaSettings, worker_factory: WorkerFactory, tmp_path: Path, artifacts_dir: Path
) -> None:
    log = artifacts_dir / "streams" / "outage-clickhouse.log"
    server = LocalClickHouse.start(tmp_path / "chdb", log)
    clickhouse = ClickHouseSettings(url=server.url, database="outage")
    try:
        apply_migrations(clickhouse)
        first = many_records(500, keys=100, seed=1)
        worker = worker_factory(kafka_settings, clickhouse).start()
        asyncio.run(produce(kafka_settings, first))
        wait_for(lambda: current_values(clickhouse) == last_write_wins(first), 40, "rows before the outage")

        server.stop()
        second = many_records(2_000, keys=300, seed=2)
        asyncio.run(produce(kafka_settings, second))
        time.sleep(4)
        assert worker.alive()
        server = LocalClickHouse.start(tmp_path / "chdb", log, port=server.port)
        wait_for(lambda: current_values(clickhouse) == last_write_wins(first + second), 60, "catch-up")
    finally:
        server.stop()
