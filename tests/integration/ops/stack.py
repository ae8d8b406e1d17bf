"""The local stack as ``quivly dev`` starts it (free ports, own data directory) and a real
Prometheus scraping it, for the operations tests."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from infra.processes import (
    PRINTED_ADMIN_TOKEN,
    PRINTED_API_KEY,
    REPO_ROOT,
    LocalRun,
    free_local_run_ports,
    free_port,
    wait_for_port,
    wait_until_ready,
)

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
    run: LocalRun | None = None
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
        extra_env = {"QUIVLY_LOG_FORMAT": "json", "QUIVLY_LOG_LEVEL": "info"}
        self.run = LocalRun.start(self.data_dir, self.ports, extra_env, timeout_s)
        self.api_key = self.run.printed(PRINTED_API_KEY)
        self.admin_token = self.run.printed(PRINTED_ADMIN_TOKEN)
        wait_until_ready(f"http://127.0.0.1:{self.ports['streams']}", timeout_s=90)

    def stop(self) -> None:
        if self.run is not None:
            self.run.stop()

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
