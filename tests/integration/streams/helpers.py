"""Helpers for the streams integration tests: records, a producer, the worker as a subprocess."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaProducer

from core.clickhouse import make_client
from core.records import UsageRecord
from core.settings import ClickHouseSettings, KafkaSettings
from infra.processes import free_port, start_process, stop_process

_CLOCK = itertools.count(int(time.time() * 1_000_000))


def record(
    customer: str = "c1",
    metric: str = "api_calls",
    granularity: str = "daily",
    period: str = "2026-11-20T00:00:00Z",
    value: float = 1.0,
    org: str = "org1",
    ingested_at_us: int | None = None,
) -> UsageRecord:
    ingested = ingested_at_us if ingested_at_us is not None else max(next(_CLOCK), int(time.time() * 1e6))
    return UsageRecord(
        org_id=org,
        customer_id=customer,
        external_customer_id=f"ext-{customer}",
        metric_key=metric,
        granularity=granularity,
        period_start=period,
        value=value,
        event_type="credit",
        created_at_us=ingested - 1000,
        ingested_at_us=ingested,
        properties='{"plan":"pro"}',
    )


async def produce(
    kafka: KafkaSettings, records: Iterable[UsageRecord | tuple[bytes, bytes]], topic: str = ""
) -> None:
    """Produces in order; tuples are raw (key, value) pairs.

    acks=all but not idempotent: Tansu 0.6 answers InitProducerId with an error.
    """
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        pending = []
        for item in records:
            key, value = (item.key.to_bytes(), item.to_bytes()) if isinstance(item, UsageRecord) else item
            pending.append(await producer.send(topic or kafka.usage_topic, value=value, key=key))
        for future in pending:
            await future
    finally:
        await producer.stop()


def last_write_wins(records: Iterable[UsageRecord]) -> dict[str, float]:
    expected: dict[str, float] = {}
    for item in records:
        expected[item.event_id] = item.value
    return expected


def current_values(clickhouse: ClickHouseSettings) -> dict[str, float]:
    client = make_client(clickhouse)
    try:
        rows = client.query("SELECT toString(event_id), value FROM usage_events FINAL").result_rows
    finally:
        client.close()
    return {str(event_id): float(value) for event_id, value in rows}


def snapshot(clickhouse: ClickHouseSettings, table: str) -> list[tuple[object, ...]]:
    client = make_client(clickhouse)
    try:
        return [
            tuple(r)
            for r in client.query(f"SELECT * FROM {table} FINAL ORDER BY event_id, version").result_rows
        ]
    finally:
        client.close()


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@dataclass
class WorkerProcess:
    """``python -m streams.main`` as a child process with its own web port and data dir."""

    kafka: KafkaSettings
    clickhouse: ClickHouseSettings
    data_dir: Path
    app_id: str
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {
            "QUIVLY_KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "QUIVLY_KAFKA_USAGE_TOPIC": self.kafka.usage_topic,
            "QUIVLY_KAFKA_DEAD_LETTER_TOPIC": self.kafka.dead_letter_topic,
            "QUIVLY_KAFKA_PARTITIONS": str(self.kafka.partitions),
            "QUIVLY_CLICKHOUSE_URL": self.clickhouse.url,
            "QUIVLY_CLICKHOUSE_DATABASE": self.clickhouse.database,
            "QUIVLY_STREAMS_APP_ID": self.app_id,
            "QUIVLY_STREAMS_DATA_DIR": str(self.data_dir),
            "QUIVLY_STREAMS_WEB_PORT": str(free_port()),
            "QUIVLY_STREAMS_BATCH_MAX_SECONDS": "0.3",
            "QUIVLY_STREAMS_RETRY_MAX_S": "1.0",
            **self.extra_env,
        }

    def start(self) -> WorkerProcess:
        assert self.process is None or self.process.poll() is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUIVLY_")}
        env.update(self.env())
        self.process = start_process([sys.executable, "-m", "streams.main"], self.log_path, env=env)
        return self

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout_s=15)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None
