"""The local run keeps working: a killed streams worker is restarted while the broker stays up
(no acknowledged event is lost), and a second ``quivly dev`` on the same data directory works."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from infra.processes import free_local_run_ports, free_port, start_local_run
from tests.integration.system.test_local_run import (
    _collect_output,
    _descendants,
    _wait_for_line,
    demo_headers,
)

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse, pytest.mark.slow]


def start_dev(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    process = start_local_run(data_dir, free_local_run_ports(gateway=port))
    lines = _collect_output(process)
    _wait_for_line(process, r"Ctrl-C stops everything", 180, lines)
    return process, lines


def push(base: str, headers: dict[str, str], metric: str, count: int) -> list[str]:
    events = [
        {
            "external_customer_id": "0015g00000ABC",
            "metric_key": metric,
            "value": i,
            "granularity": "hourly",
            "timestamp": f"2026-11-{1 + i // 24:02d}T{i % 24:02d}:00:00Z",
        }
        for i in range(count)
    ]
    response = httpx.post(f"{base}/v1/usage/events", json={"events": events}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return [result["event_id"] for result in response.json()["results"]]


def all_fetchable(base: str, headers: dict[str, str], event_ids: list[str], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    missing = list(event_ids)
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        while missing and time.monotonic() < deadline:
            missing = [e for e in missing if client.get(f"/v1/events/{e}").status_code != 200]
            time.sleep(0.5)
    return not missing


def streams_worker_pid(runner: int) -> int:
    for pid in _descendants(runner):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"streams-worker" in command:
            return pid
    raise AssertionError("no streams worker among the local run's processes")


def stop_dev(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=90)


def test_a_killed_worker_is_restarted_and_a_second_run_works(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process, lines = start_dev(tmp_path / "data", port)
    try:
        headers = demo_headers("".join(lines))
        first = push(base, headers, "before_kill", 40)
        assert all_fetchable(base, headers, first, 60)

        os.kill(streams_worker_pid(process.pid), signal.SIGKILL)
        acknowledged = push(base, headers, "while_dead", 120)  # in the broker only
        _wait_for_line(process, r"streams worker exited .* restarting it", 30, lines)
        assert process.poll() is None  # the run goes on
        assert all_fetchable(base, headers, acknowledged, 120)
    finally:
        stop_dev(process)

    # Same data directory, a fresh in-memory broker: the worker's old state must not stop it.
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process, lines = start_dev(tmp_path / "data", port)
    try:
        headers = demo_headers("".join(lines))
        second = push(base, headers, "second_run", 40)
        assert all_fetchable(base, headers, second, 90)
        assert process.poll() is None
        assert "exited unexpectedly" not in "".join(lines)
    finally:
        stop_dev(process)
