"""A Faust worker with a table, against the real broker: its state is rebuilt from the changelog.

The worker runs as a subprocess with an in-memory table store, so after SIGTERM and a restart
the only way to get the totals back is changelog recovery.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from core.settings import KafkaSettings
from infra.processes import free_port, start_process, stop_process

pytestmark = pytest.mark.kafka

# Short group timeouts: on Tansu a member that rejoins the same group waits about twice the
# session timeout for the previous member to expire. Not shorter than the project's test default:
# on a loaded 2-core machine a 2 s session expired mid-test and the rebalance delayed delivery.
SESSION_TIMEOUT_MS = 4000
HEARTBEAT_MS = 1000
READY_LINE = "[^Worker]: Ready"


def _wait_until_ready(worker: Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    """Produces only once the worker has joined, recovered and sought: no race with the join."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert worker.poll() is None, f"worker exited early:\n{log.read_text()[-3000:]}"
        if log.exists() and READY_LINE in log.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"worker not ready after {timeout_s} s:\n{log.read_text()[-3000:]}")


def _start_worker(settings: KafkaSettings, work: Path, run: str, output: Path) -> Popen[bytes]:
    env = {
        "COUNTER_APP_ID": f"counter-{settings.usage_topic}",
        "COUNTER_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "COUNTER_TOPIC": settings.usage_topic,
        "COUNTER_PARTITIONS": str(settings.partitions),
        "COUNTER_STORE": "memory://",
        "COUNTER_DATA_DIR": str(work / f"data-{run}"),  # a fresh, empty directory per run
        "COUNTER_WEB_PORT": str(free_port()),
        "COUNTER_OUTPUT": str(output),
        "COUNTER_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
        "COUNTER_HEARTBEAT_MS": str(HEARTBEAT_MS),
    }
    command = [sys.executable, "-m", "tests.integration.foundation.faust_counter_app", "worker", "-l", "info"]
    return start_process(command, work / f"worker-{run}.log", env=env)


async def _produce(settings: KafkaSettings, events: list[tuple[str, int]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    try:
        for key, value in events:
            await producer.send_and_wait(settings.usage_topic, str(value).encode(), key=key.encode())
    finally:
        await producer.stop()


def _wait_for_snapshot(
    output: Path, expected: dict[str, Any], worker: Popen[bytes], log: Path, timeout_s: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    snapshot: dict[str, Any] = {}
    while time.monotonic() < deadline:
        assert worker.poll() is None, f"worker exited early:\n{log.read_text()[-3000:]}"
        if output.exists():
            snapshot = json.loads(output.read_text())
            if snapshot == expected:
                return snapshot
        time.sleep(0.1)
    raise AssertionError(f"table snapshot {snapshot} != {expected}\n{log.read_text()[-3000:]}")


def test_table_is_rebuilt_from_changelog_after_restart(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    output = tmp_path / "totals.json"
    keys = [f"customer-{i}" for i in range(6)]
    events = [(key, n + 1) for n in range(4) for key in keys]
    before = {key: sum(value for k, value in events if k == key) for key in keys}

    first = _start_worker(kafka_settings, tmp_path, "first", output)
    try:
        _wait_until_ready(first, tmp_path / "worker-first.log")
        asyncio.run(_produce(kafka_settings, events))
        expected = {"totals": before, "processed_here": len(events)}
        assert _wait_for_snapshot(output, expected, first, tmp_path / "worker-first.log") == expected
    finally:
        stop_process(first, timeout_s=15)
    assert first.returncode is not None

    output.unlink()
    second = _start_worker(kafka_settings, tmp_path, "second", output)
    try:
        _wait_until_ready(second, tmp_path / "worker-second.log")
        # One probe event per key: its total can only be right if the rest came back from the changelog.
        asyncio.run(_produce(kafka_settings, [(key, 100) for key in keys]))
        # processed_here == len(keys): the old events were not consumed again, the totals were recovered.
        after = {"totals": {key: total + 100 for key, total in before.items()}, "processed_here": len(keys)}
        assert _wait_for_snapshot(output, after, second, tmp_path / "worker-second.log") == after
    finally:
        stop_process(second, timeout_s=15)
