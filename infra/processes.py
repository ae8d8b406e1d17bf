"""Starting and stopping the local child processes (broker, ClickHouse endpoint, services)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PortInUse(RuntimeError):
    pass


def ensure_port_free(port: int, what: str) -> None:
    """Fails clearly when something already listens there (else we would talk to a stranger)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise PortInUse(f"port {port} (for {what}) is already in use; choose another one")


def wait_for_port(port: int, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Waits until 127.0.0.1:port accepts connections; fails fast if ``process`` died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"{process.args!r} exited with {process.returncode} before listening on {port}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


REPO_ROOT = Path(__file__).resolve().parents[1]


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The current environment plus ``extra``, with the repository importable (``python -m infra.cli``)."""
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _die_with_parent() -> None:
    """Child side: get SIGTERM if the parent dies, so a killed runner leaves nothing behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_process(
    command: Sequence[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Starts ``command`` in its own process group, output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            list(command),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_environment(env),
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def stop_process(
    process: subprocess.Popen[Any], timeout_s: float = 10.0, first: signal.Signals = signal.SIGTERM
) -> None:
    """``first`` (SIGTERM; SIGINT is Ctrl-C) to the process group, then SIGKILL if it does not
    exit in time."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, first)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout_s)


# The ports of ``quivly dev`` by name, and the setting that chooses each one.
LOCAL_RUN_PORT_SETTINGS = {
    "gateway": "QUIVLY_DEV_PORT",
    "gateway_ops": "QUIVLY_DEV_GATEWAY_OPS_PORT",
    "ingress": "QUIVLY_DEV_INGRESS_PORT",
    "query": "QUIVLY_DEV_QUERY_PORT",
    "streams": "QUIVLY_DEV_STREAMS_WEB_PORT",
    "broker": "QUIVLY_DEV_BROKER_PORT",
    "clickhouse": "QUIVLY_DEV_CLICKHOUSE_PORT",
}


def free_local_run_ports(gateway: int | None = None) -> dict[str, int]:
    """A free port for each of ``quivly dev``'s processes (``gateway`` fixed when given)."""
    ports = {name: free_port() for name in LOCAL_RUN_PORT_SETTINGS}
    if gateway is not None:
        ports["gateway"] = gateway
    return ports


def start_local_run(
    data_dir: Path, ports: dict[str, int], extra_env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``quivly dev`` as a child, for tests and benchmarks: on ``ports``, with its own data
    directory, broker, ClickHouse and admin token (those of this environment are dropped).

    Its output (stdout and stderr) is a text pipe; it leads a new session, so signalling the
    process group stops everything it started."""
    settings = {setting: str(ports[name]) for name, setting in LOCAL_RUN_PORT_SETTINGS.items()}
    env = child_environment(
        {
            "QUIVLY_DEV_DATA_DIR": str(data_dir),
            **settings,
            "QUIVLY_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['gateway']}",
            "COLUMNS": "200",
            **(extra_env or {}),
        }
    )
    for name in ("QUIVLY_KAFKA_BOOTSTRAP_SERVERS", "QUIVLY_CLICKHOUSE_URL", "QUIVLY_ADMIN_TOKEN"):
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "dev"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


# What ``quivly dev`` prints once everything runs, and how it prints the demo key and admin token.
LOCAL_RUN_BANNER = "Ctrl-C stops everything"
PRINTED_API_KEY = r"Bearer (qvk_[A-Za-z0-9_\-]+)"
PRINTED_ADMIN_TOKEN = r"admin token\s+(\S+)"


@dataclass
class LocalRun:
    """``quivly dev`` started by ``start_local_run``, its output collected as it is printed."""

    process: subprocess.Popen[str]
    output: list[str]

    @classmethod
    def start(
        cls,
        data_dir: Path,
        ports: dict[str, int],
        extra_env: dict[str, str] | None = None,
        timeout_s: float = 150,
    ) -> LocalRun:
        """Starts it and waits for its banner: every process up, the demo organization made."""
        process = start_local_run(data_dir, ports, extra_env)
        stdout = process.stdout
        assert stdout is not None
        run = cls(process, [])
        threading.Thread(target=lambda: run.output.extend(iter(stdout.readline, "")), daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while LOCAL_RUN_BANNER not in run.text:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_process(process, timeout_s=60, first=signal.SIGINT)
                raise RuntimeError("quivly dev did not start:\n" + run.text)
            time.sleep(0.2)
        return run

    @property
    def text(self) -> str:
        return "".join(self.output)

    def printed(self, pattern: str) -> str:
        """The first group of ``pattern`` in the output (``PRINTED_API_KEY``, ``PRINTED_ADMIN_TOKEN``)."""
        match = re.search(pattern, self.text)
        if match is None:
            raise RuntimeError(f"quivly dev did not print {pattern!r}:\n{self.text}")
        return match.group(1)

    def stop(self) -> None:
        """Ctrl-C, as a person stops it; SIGKILL after a minute."""
        stop_process(self.process, timeout_s=60, first=signal.SIGINT)


def wait_until_ready(url: str, timeout_s: float) -> None:
    """Until ``url``'s ``/health/ready`` answers 200 (a streams worker: its partitions and state)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout_s} s")
