"""``quivly serve-query --workers 2``: /metrics adds up every uvicorn worker (multi-process mode)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.settings import ClickHouseSettings
from infra.processes import free_port, start_process, stop_process, wait_for_port

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]


def _live_requests(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "quivly_http_requests_total" and sample.labels.get("route") == "/health/live":
                return float(sample.value)
    return 0.0


def test_two_workers_export_one_sum(clickhouse_settings: ClickHouseSettings, tmp_path: Path) -> None:
    port = free_port()
    process: subprocess.Popen[bytes] = start_process(
        [sys.executable, "-m", "infra.cli", "serve-query", "--port", str(port), "--workers", "2"],
        tmp_path / "query.log",
        env={
            "QUIVLY_CLICKHOUSE_URL": clickhouse_settings.url,
            "QUIVLY_CLICKHOUSE_DATABASE": clickhouse_settings.database,
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        },
    )
    try:
        wait_for_port(port, timeout_s=60, process=process)
        base = f"http://127.0.0.1:{port}"
        for _ in range(40):  # new connections: the kernel spreads them over both workers
            with httpx.Client() as client:
                assert client.get(f"{base}/health/live").status_code == 200
        for _ in range(10):  # whichever worker answers, it reports both workers' requests
            with httpx.Client() as client:
                assert _live_requests(client.get(f"{base}/metrics").text) == 40
        assert list((tmp_path / "metrics").glob("counter_*.db"))
        ready = httpx.get(f"{base}/health/ready", timeout=10)
        assert ready.status_code == 200 and ready.json()["checks"] == {"clickhouse": "ok"}
    finally:
        stop_process(process)
