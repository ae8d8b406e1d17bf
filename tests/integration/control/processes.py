"""Ingress replicas as real processes (``python -m infra.cli serve-ingress``) for the control-plane tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from infra.processes import free_port, start_process, stop_process, wait_for_port

ADMIN_TOKEN = "replica-admin-token"
T = TypeVar("T")


@dataclass
class Ingress:
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    def start(self) -> Ingress:
        command = [sys.executable, "-m", "infra.cli", "serve-ingress", "--port", str(self.port)]
        self.process = start_process(command, self.log_path, env=self.env)
        wait_for_port(self.port, timeout_s=60, process=self.process)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(
            method, f"/admin/v1{path}", json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert response.status_code < 300, response.text
        return response.json()

    def push(self, api_key: str, external_id: str, dry_run: bool = False) -> httpx.Response:
        body = {"events": [{"external_customer_id": external_id, "metric_key": "api_calls", "value": 1}]}
        params = {"dry_run": "true"} if dry_run else {}
        return self.http.post(
            "/v1/usage/events", json=body, params=params, headers={"Authorization": f"Bearer {api_key}"}
        )


def ingress_env(clickhouse_url: str, database: str, bootstrap: str, topic: str) -> dict[str, str]:
    return {
        "QUIVLY_CLICKHOUSE_URL": clickhouse_url,
        "QUIVLY_CLICKHOUSE_DATABASE": database,
        "QUIVLY_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "QUIVLY_KAFKA_USAGE_TOPIC": topic,
        "QUIVLY_KAFKA_DEAD_LETTER_TOPIC": f"{topic}_dlq",
        "QUIVLY_ADMIN_TOKEN": ADMIN_TOKEN,
        "QUIVLY_CONTROL_POLL_INTERVAL_S": "1.0",
    }


def start_replicas(count: int, env: dict[str, str], log_dir: Path) -> list[Ingress]:
    replicas = [Ingress(free_port(), env, log_dir / f"ingress-{i}.log") for i in range(count)]
    try:
        for replica in replicas:
            replica.start()
    except BaseException:
        for replica in replicas:
            replica.stop()
        raise
    return replicas


def wait_until(check: Callable[[], T | None], timeout_s: float, interval_s: float = 0.05) -> tuple[T, float]:
    """Polls ``check`` until it returns something truthy; returns it and the seconds it took."""
    started = time.monotonic()
    while True:
        result = check()
        elapsed = time.monotonic() - started
        if result:
            return result, elapsed
        if elapsed > timeout_s:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)
