"""The README's run command end to end: ``quivly dev`` brings the whole stack up on one base URL,
a pushed event can be read back through the same URL, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from infra.processes import PRINTED_ADMIN_TOKEN, PRINTED_API_KEY, free_local_run_ports, start_local_run

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse, pytest.mark.slow]


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    pending = [pid]
    while pending:
        current = pending.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def _collect_output(process: subprocess.Popen[str]) -> list[str]:
    """Reads the runner's output in a thread, so waiting never blocks on a pipe."""
    lines: list[str] = []
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")), daemon=True).start()
    return lines


def _wait_for_line(process: subprocess.Popen[str], pattern: str, timeout_s: float, lines: list[str]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if re.search(pattern, "".join(lines)):
            return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} not printed in {timeout_s} s; output:\n{''.join(lines)}")


def demo_headers(output: str) -> dict[str, str]:
    """The Authorization header of the demo organization's key that ``quivly dev`` printed."""
    api_key = re.search(PRINTED_API_KEY, output)
    assert api_key, output
    return {"Authorization": f"Bearer {api_key.group(1)}"}


def test_run_command_serves_everything_on_one_url_and_ctrl_c_cleans_up(tmp_path: Path) -> None:
    ports = free_local_run_ports()
    port = ports["gateway"]
    process = start_local_run(tmp_path / "data", ports)
    seen = _collect_output(process)
    try:
        _wait_for_line(process, r"Ctrl-C stops everything", 120, seen)
        output = "".join(seen)
        headers = demo_headers(output)
        assert re.search(PRINTED_ADMIN_TOKEN, output)
        assert f"http://127.0.0.1:{port}/admin/" in output
        base = f"http://127.0.0.1:{port}"
        event = {"external_customer_id": "0015g00000ABC", "metric_key": "api_calls", "value": 300}
        pushed = httpx.post(f"{base}/v1/usage/events", json={"events": [event]}, headers=headers, timeout=30)
        assert pushed.status_code == 200, pushed.text
        assert pushed.json()["mode"] == "live" and pushed.json()["inserted"] == 1
        event_id = pushed.json()["results"][0]["event_id"]
        deadline = time.monotonic() + 30
        fetched = httpx.get(f"{base}/v1/events/{event_id}", headers=headers, timeout=10)
        while fetched.status_code == 404 and time.monotonic() < deadline:
            time.sleep(0.5)
            fetched = httpx.get(f"{base}/v1/events/{event_id}", headers=headers, timeout=10)
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["value"] == 300 and fetched.json()["customer_id"] == "pied-piper"
        children = _descendants(process.pid)
        assert len(children) >= 5  # broker, ClickHouse, ingress, query, streams, gateway
    finally:
        children = _descendants(process.pid) if process.poll() is None else set()
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in children if _alive(pid)], "processes left behind after Ctrl-C"
