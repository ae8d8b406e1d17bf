"""``quivly dev``: the whole service on one machine, no Docker needed.

Starts (unless an explicit URL in the environment points elsewhere) the Tansu broker and the chdb
ClickHouse endpoint, applies migrations and provisions topics, then runs ingress, query, one
streams worker and the gateway that puts everything on one base URL. It creates a demo
organization with a few customers, prints the admin token, the panel URL and a ready-to-run curl
example, and stops every process it started on Ctrl-C. A service that exits (a crashed streams
worker, say) is started again while the broker stays up (``infra.supervisor``).

The local broker keeps nothing across its own restarts (memory storage); ClickHouse data lives in
``.quivly/clickhouse`` and survives, and the control plane is stored in ClickHouse, so
organizations, keys and customers are still there after a restart. Events produced but not yet
sunk into ClickHouse when the broker stops are lost in the local run (never in production,
where the log is durable). The streams worker's local state survives in ``.quivly/streams``; on
the next start it is checked against the fresh broker's log and rebuilt where it no longer matches
(``streams.local_state``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from types import FrameType

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console

from core.settings import ClickHouseSettings, KafkaSettings
from infra.local_components import LocalBroker, LocalClickHouse
from infra.migrate import apply_migrations
from infra.processes import PortInUse, ensure_port_free, start_process, stop_process, wait_for_port
from infra.supervisor import RestartBudget
from infra.topics import provision_topics

DEMO_ORG_NAME = "Demo Inc"
DEMO_CUSTOMERS = [
    {
        "customer_id": "pied-piper",
        "name": "Pied Piper",
        "external_ids": [
            {"source": "salesforce", "id": "0015g00000ABC"},
            {"source": "hubspot", "id": "4711"},
        ],
    },
    {
        "customer_id": "hooli",
        "name": "Hooli",
        "external_ids": [{"source": "salesforce", "id": "0015g00000HOO"}],
    },
    {"customer_id": "aviato", "name": "Aviato", "external_ids": [{"source": "stripe", "id": "cus_aviato"}]},
]


# Tansu makes a group join wait on the session timeout: keep it short locally.
TANSU_GROUP_TIMEOUTS = {
    "QUIVLY_KAFKA_SESSION_TIMEOUT_MS": "4000",
    "QUIVLY_KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
}


class LocalRunSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUIVLY_DEV_", extra="ignore")

    data_dir: Path = Path(".quivly")
    port: int = 8000
    ingress_port: int = 8001
    query_port: int = 8002
    streams_web_port: int = 6066
    # The gateway's /health/* and /metrics port in the local run.
    gateway_ops_port: int = 8010
    broker_port: int = 9092
    clickhouse_port: int = 8123


@dataclass
class LocalStack:
    settings: LocalRunSettings
    console: Console
    processes: list[tuple[str, Popen[bytes]]] = field(default_factory=list)
    service_env: dict[str, str] = field(default_factory=dict)
    # How to start each service again (command, log, environment): see ``restart_exited``.
    restartable: dict[str, tuple[list[str], Path, dict[str, str]]] = field(default_factory=dict)

    @property
    def logs(self) -> Path:
        return self.settings.data_dir / "logs"

    def start_components(self) -> None:
        env = os.environ
        if env.get("QUIVLY_KAFKA_BOOTSTRAP_SERVERS"):
            self.service_env["QUIVLY_KAFKA_BOOTSTRAP_SERVERS"] = env["QUIVLY_KAFKA_BOOTSTRAP_SERVERS"]
        else:
            broker = LocalBroker.start(self.logs / "tansu.log", port=self.settings.broker_port)
            self.processes.append(("broker (Tansu)", broker.process))
            self.service_env["QUIVLY_KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
            self.service_env.update(TANSU_GROUP_TIMEOUTS)
        if env.get("QUIVLY_CLICKHOUSE_URL"):
            self.service_env["QUIVLY_CLICKHOUSE_URL"] = env["QUIVLY_CLICKHOUSE_URL"]
        else:
            clickhouse = LocalClickHouse.start(
                self.settings.data_dir / "clickhouse",
                self.logs / "clickhouse.log",
                self.settings.clickhouse_port,
            )
            self.processes.append(("ClickHouse (chdb endpoint, dev only)", clickhouse.process))
            self.service_env["QUIVLY_CLICKHOUSE_URL"] = clickhouse.url
        self.console.print(f"broker     {self.service_env['QUIVLY_KAFKA_BOOTSTRAP_SERVERS']}")
        self.console.print(f"clickhouse {self.service_env['QUIVLY_CLICKHOUSE_URL']}")

    def prepare_schema_and_topics(self) -> None:
        os.environ.update(self.service_env)
        apply_migrations(ClickHouseSettings())
        asyncio.run(provision_topics(KafkaSettings()))

    def start_services(self) -> None:
        python = [sys.executable, "-m", "infra.cli"]
        s = self.settings
        services = [
            ("ingress", [*python, "serve-ingress", "--port", str(s.ingress_port)], s.ingress_port),
            ("query", [*python, "serve-query", "--port", str(s.query_port)], s.query_port),
            (
                "streams worker",
                [
                    *python,
                    "streams-worker",
                    "--web-port",
                    str(s.streams_web_port),
                    "--data-dir",
                    str(s.data_dir / "streams"),
                ],
                None,
            ),
            (
                "gateway",
                [*python, "gateway", "--port", str(s.port), "--ops-port", str(s.gateway_ops_port)],
                s.port,
            ),
        ]
        env = {
            **self.service_env,
            "QUIVLY_GATEWAY_INGRESS_URL": f"http://127.0.0.1:{s.ingress_port}",
            "QUIVLY_GATEWAY_QUERY_URL": f"http://127.0.0.1:{s.query_port}",
        }
        ensure_port_free(s.streams_web_port, "the streams worker's web port")
        ensure_port_free(s.gateway_ops_port, "the gateway's operations port")
        for name, _, port in services:
            if port is not None:
                ensure_port_free(port, name)
        for name, command, _ in services:
            log_name = name.split()[0]
            self.restartable[name] = (command, self.logs / f"{log_name}.log", env)
            self.processes.append((name, start_process(command, self.logs / f"{log_name}.log", env=env)))
        for (name, process), (_, _, port) in zip(self.processes[-len(services) :], services, strict=True):
            if port is not None:
                wait_for_port(port, timeout_s=60, process=process)
            self.console.print(f"{name:<10} started (log: {self.logs / (name.split()[0] + '.log')})")

    def stop_all(self) -> None:
        for name, process in reversed(self.processes):
            stop_process(process)
            self.console.print(f"stopped {name}")
        self.processes.clear()

    def restart_exited(self, budget: RestartBudget) -> str | None:
        """Starts again every service that exited; the name of one that may not be (the run stops).

        The broker and ClickHouse are never restarted (a new in-memory broker would have lost the
        log); a service that keeps dying is not either (``infra.supervisor``).
        """
        for index, (name, process) in enumerate(self.processes):
            if process.poll() is None:
                continue
            if name not in self.restartable or not budget.allow(name, time.monotonic()):
                return name
            command, log_path, env = self.restartable[name]
            self.console.print(
                f"[yellow]{name} exited ({process.returncode}); restarting it[/] (log: {log_path})"
            )
            self.processes[index] = (name, start_process(command, log_path, env=env))
        return None


def admin_token(data_dir: Path) -> str:
    """The configured token, or one generated once and kept in the data directory."""
    return _kept_secret(
        data_dir, "QUIVLY_ADMIN_TOKEN", "admin-token", lambda: "qva_" + secrets.token_urlsafe(24)
    )


def warehouse_encryption_key(data_dir: Path) -> str:
    """The configured key of warehouse source credentials, or one generated once in the data directory."""
    from ingress.warehouse.secrets import generate_key

    return _kept_secret(data_dir, "QUIVLY_WAREHOUSE_ENCRYPTION_KEY", "warehouse-encryption-key", generate_key)


def _kept_secret(data_dir: Path, setting: str, file_name: str, generate: Callable[[], str]) -> str:
    """``setting`` from the environment, else the value kept in ``data_dir/file_name``, else a new
    one from ``generate``, written there readable by its owner only."""
    configured = os.environ.get(setting)
    if configured:
        return configured
    kept = data_dir / file_name
    if kept.exists():
        return kept.read_text().strip()
    value = generate()
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(value)
    kept.chmod(0o600)
    return value


def create_demo_organization(base_url: str, token: str) -> tuple[str, str]:
    """Creates (or reuses) the demo organization; returns its ID and a freshly generated key."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as admin:
        orgs = admin.get("/admin/v1/orgs").raise_for_status().json().get("orgs", [])
        existing = next((o for o in orgs if o.get("name") == DEMO_ORG_NAME), None)
        if existing:
            org_id = existing["org_id"]
        else:
            org_id = (
                admin.post("/admin/v1/orgs", json={"name": DEMO_ORG_NAME}).raise_for_status().json()["org_id"]
            )
        admin.put(f"/admin/v1/orgs/{org_id}/customers", json={"customers": DEMO_CUSTOMERS}).raise_for_status()
        if admin.get(f"/admin/v1/orgs/{org_id}/configuration").status_code == 404:
            admin.post(
                f"/admin/v1/orgs/{org_id}/configuration", json={"source": "push_api"}
            ).raise_for_status()
        admin.post(f"/admin/v1/orgs/{org_id}/configuration/publish").raise_for_status()
        api_key = admin.post(f"/admin/v1/orgs/{org_id}/api-key").raise_for_status().json()["api_key"]
    return org_id, api_key


def curl_example(base_url: str, api_key: str) -> str:
    body = (
        '{"events": [{"external_customer_id": "0015g00000ABC", "metric_key": "api_calls", '
        '"value": 300, "granularity": "daily", "properties": {"region": "us-west-1"}}]}'
    )
    return (
        f"curl -sS -X POST {base_url}/v1/usage/events \\\n"
        f"  -H 'Authorization: Bearer {api_key}' \\\n"
        f"  -H 'Content-Type: application/json' \\\n"
        f"  -d '{body}'"
    )


def run_local() -> int:
    settings = LocalRunSettings()
    console = Console()
    token = admin_token(settings.data_dir)
    os.environ["QUIVLY_ADMIN_TOKEN"] = token
    base_url = f"http://127.0.0.1:{settings.port}"
    os.environ.setdefault("QUIVLY_PUBLIC_BASE_URL", base_url)
    stack = LocalStack(settings, console)
    stack.service_env.update(
        {"QUIVLY_ADMIN_TOKEN": token, "QUIVLY_PUBLIC_BASE_URL": os.environ["QUIVLY_PUBLIC_BASE_URL"]}
    )
    stack.service_env["QUIVLY_WAREHOUSE_ENCRYPTION_KEY"] = warehouse_encryption_key(settings.data_dir)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        stack.start_components()
        stack.prepare_schema_and_topics()
        stack.start_services()
        org_id, api_key = create_demo_organization(base_url, token)
        console.print(f"\n[bold green]quivly is running[/] on [bold]{base_url}[/]")
        console.print(f"admin token   {token}")
        console.print(f"panel         {base_url}/admin/  (sign in with the admin token)")
        console.print(f"demo org      {DEMO_ORG_NAME} ({org_id}), API key {api_key}")
        console.print("\nPush a usage event:\n")
        print(curl_example(base_url, api_key))
        console.print("\nRead it back (a second later):\n")
        print(
            f"curl -sS -X POST {base_url}/v1/events/search -H 'Authorization: Bearer {api_key}' "
            "-H 'Content-Type: application/json' -d '{\"event_code\": \"api_calls\"}'"
        )
        console.print("\nCtrl-C stops everything.")
        budget = RestartBudget()
        while (exited := stack.restart_exited(budget)) is None:
            time.sleep(0.5)
        console.print(f"[red]{exited} exited unexpectedly[/]; see {stack.logs}. Stopping.")
        return 1
    except KeyboardInterrupt:
        console.print("\nstopping...")
        return 0
    except PortInUse as exc:
        console.print(f"[red]could not start: {exc}[/]")
        console.print(
            "Set the ports with QUIVLY_DEV_PORT, _INGRESS_PORT, _QUERY_PORT, _BROKER_PORT, "
            "_CLICKHOUSE_PORT, _STREAMS_WEB_PORT, _GATEWAY_OPS_PORT."
        )
        return 1
    except Exception as exc:
        console.print(f"[red]could not start: {exc}[/] (logs in {stack.logs})")
        return 1
    finally:
        stack.stop_all()
