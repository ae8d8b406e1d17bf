"""``quivly status`` against a running local stack (``quivly dev`` on free ports)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from infra.processes import REPO_ROOT, child_environment, free_port
from tests.integration.ops.stack import LocalStack

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse, pytest.mark.slow]


def _status(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = child_environment(
        {
            "QUIVLY_DEV_INGRESS_PORT": str(stack.ports["ingress"]),
            "QUIVLY_DEV_QUERY_PORT": str(stack.ports["query"]),
            "QUIVLY_DEV_STREAMS_WEB_PORT": str(stack.ports["streams"]),
            "QUIVLY_DEV_GATEWAY_OPS_PORT": str(stack.ports["gateway_ops"]),
            "QUIVLY_DEV_CLICKHOUSE_PORT": str(stack.ports["clickhouse"]),
            "COLUMNS": "200",
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", "status", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_status_shows_a_healthy_stack_with_lag_and_freshness(stack: LocalStack) -> None:
    events = [{"external_customer_id": "4711", "metric_key": f"status_{i}", "value": i} for i in range(20)]
    assert stack.push(events).status_code == 200
    done = _status(stack, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ready"] is True
    assert [c["name"] for c in report["components"]] == ["ingress", "query", "streams", "gateway"]
    assert all(c["live"] and c["ready"] for c in report["components"])
    streams = report["streams"]
    assert sorted(streams["lag"], key=int) == [str(p) for p in range(6)]
    assert streams["applied"] >= 20
    assert 0 < streams["freshness_p50_s"] <= streams["freshness_p99_s"] < 60
    assert streams["dead_letters"] == 0
    assert streams["stored_dead_letters"] == {"total": 0, "last_24h": 0, "organizations": 0, "error": ""}

    table = _status(stack)
    assert table.returncode == 0, table.stdout + table.stderr
    for text in ("quivly components", "ingress", "streams", "gateway", "consumer lag", "freshness p99"):
        assert text in table.stdout


def test_status_names_an_unreachable_component_and_exits_1(stack: LocalStack) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    done = _status(stack, "--json", "--query", closed)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    query = next(c for c in report["components"] if c["name"] == "query")
    assert report["ready"] is False and query["live"] is False and query["error"]
    assert next(c for c in report["components"] if c["name"] == "ingress")["ready"] is True


def test_status_counts_a_dead_letter_in_the_worker_and_in_clickhouse(stack: LocalStack) -> None:
    async def produce_poison() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{stack.ports['broker']}", acks="all")
        await producer.start()
        try:
            await producer.send_and_wait("usage-events", key=b'["org_x"]', value=b"not a usage record")
        finally:
            await producer.stop()

    asyncio.run(produce_poison())
    deadline = time.monotonic() + 60
    report: dict[str, Any] = {}
    while time.monotonic() < deadline:
        report = json.loads(_status(stack, "--json").stdout)
        if report["streams"]["stored_dead_letters"]["total"] == 1 and report["streams"]["dead_letters"] == 1:
            break
        time.sleep(1)
    assert report["streams"]["dead_letters"] == 1, report
    assert report["streams"]["stored_dead_letters"]["total"] == 1, report
    table = _status(stack)
    assert "1 waiting" in table.stdout, table.stdout
