"""The local stack as ``quivly dev`` starts it (free ports, own data directory) and a real
Prometheus scraping it, for the operations tests."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from infra.processes import REPO_ROOT, free_local_run_ports, free_port, start_local_run, wait_for_port

__all__ = ["REPO_ROOT", "LocalStack", "Prometheus", "promtool_binary"]

INSTALL_HINT = "Debian's prometheus package is missing: run `bash scripts/install-prometheus.sh`"


def _binary(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if found is None:
        raise RuntimeError(INSTALL_HINT)
    return found


def promtool_binary() -> str:
    return _binary("promtool")


@dataclass
class LocalStack:
    """``quivly dev`` on free ports; ``targets`` maps a Prometheus job to its host:port."""

    data_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)
    api_key: str = ""
    admin_token: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def targets(self) -> dict[str, str]:
        jobs = {"ingress": "ingress", "query": "query", "streams": "streams", "gateway": "gateway_ops"}
        return {f"quivly-{job}": f"127.0.0.1:{self.ports[port]}" for job, port in jobs.items()}

    def start(self, timeout_s: float = 150) -> None:
        self.ports = free_local_run_ports()
        self.process = start_local_run(
            self.data_dir, self.ports, {"QUIVLY_LOG_FORMAT": "json", "QUIVLY_LOG_LEVEL": "info"}
        )
        stdout = self.process.stdout
        assert stdout is not None
        threading.Thread(target=lambda: self.output.extend(iter(stdout.readline, "")), daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while "Ctrl-C stops everything" not in "".join(self.output):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("quivly dev did not start:\n" + "".join(self.output))
            time.sleep(0.2)
        text = "".join(self.output)
        key = re.search(r"Bearer (qvk_[A-Za-z0-9_\-]+)", text)
        token = re.search(r"admin token\s+(\S+)", text)
        assert key and token, text
        self.api_key, self.admin_token = key.group(1), token.group(1)
        self.wait_ready(f"http://127.0.0.1:{self.ports['streams']}", timeout_s=90)

    def wait_ready(self, url: str, timeout_s: float) -> None:
        """Until ``url``'s readiness is 200 (the streams worker: its partitions and table state)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health/ready", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{url} not ready after {timeout_s} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def push(self, events: list[dict[str, Any]], request_id: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        if request_id:
            headers["X-Request-ID"] = request_id
        return httpx.post(
            f"{self.base_url}/v1/usage/events", json={"events": events}, headers=headers, timeout=30
        )


@dataclass
class Prometheus:
    """Debian's Prometheus server scraping ``targets`` every ``interval``, on its own free port."""

    directory: Path
    targets: dict[str, str]
    interval: str = "1s"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = _binary("prometheus")
        self.port = free_port()
        jobs = "".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
            for job, target in self.targets.items()
        )
        config = self.directory / "prometheus.yml"
        config.write_text(
            f"global:\n  scrape_interval: {self.interval}\n  evaluation_interval: {self.interval}\n"
            f"scrape_configs:\n{jobs}"
        )
        log = (self.directory / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, timeout_s=30, process=self.process)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def query(self, promql: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"http://127.0.0.1:{self.port}/api/v1/query", params={"query": promql}, timeout=10)
        answer.raise_for_status()
        body = answer.json()
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def scalar(self, promql: str) -> float | None:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, promql: str, expected: float, timeout_s: float = 30) -> float | None:
        """Polls until ``promql`` returns ``expected`` (a counter catching up) or the time is up."""
        deadline = time.monotonic() + timeout_s
        value = self.scalar(promql)
        while value != expected and time.monotonic() < deadline:
            time.sleep(0.5)
            value = self.scalar(promql)
        return value
