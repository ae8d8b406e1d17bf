"""The whole path of a warehouse source: ingress (admin API, puller, scheduler) in-process over the
real broker and ClickHouse, a streams worker process, and the query app for fetch and search."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from core.clickhouse import make_client
from core.settings import AdminSettings, ClickHouseSettings, KafkaSettings
from ingress.control.settings import ControlPlaneSettings
from ingress.main import create_app
from ingress.settings import IngressSettings
from ingress.warehouse.secrets import generate_key
from ingress.warehouse.settings import WarehouseSettings
from query.main import create_app as create_query_app
from query.settings import QuerySettings
from tests.integration.streams.helpers import WorkerProcess

ADMIN_TOKEN = "warehouse-admin-token"
ENCRYPTION_KEY = generate_key()
# The credentials given to every source: no response, log line or table may show them.
PASSWORD = "pw-Very-Secret-7f3a9c"
FAST = {
    "tick_s": 0.2,
    "lease_ttl_s": 5.0,
    "lease_settle_s": 0.05,
    "min_interval_s": 1,
    "retry_initial_s": 0.1,
    "run_attempts": 2,
    "connect_timeout_s": 2.0,
    "query_timeout_s": 30.0,
}


def warehouse_source_body(kind: str, connection: dict[str, Any], query: str) -> dict[str, Any]:
    """A source as the warehouse tests create it: run every second, incremental on ``updated_at``
    with a minute of lookback."""
    return {
        "name": f"Usage from {kind}",
        "kind": kind,
        "connection": connection,
        "query": query,
        "schedule": {"interval_s": 1},
        "incremental": {"column": "updated_at", "lookback_s": 60},
    }


def warehouse_settings(**overrides: Any) -> WarehouseSettings:
    return WarehouseSettings(**{"encryption_key": ENCRYPTION_KEY, **FAST, **overrides})


@dataclass
class Stack:
    app: Any
    http: httpx.AsyncClient
    clickhouse: ClickHouseSettings
    kafka: KafkaSettings
    org_id: str = ""
    api_key: str = ""
    seen: list[str] | None = None  # every response body, for the credentials check

    async def admin(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        response = await self.http.request(method, f"/admin/v1{path}", json=body)
        if self.seen is not None:
            self.seen.append(response.text)
        if expect is not None:
            assert response.status_code == expect, response.text
        else:
            assert response.status_code < 300, response.text
        return response.json()

    async def setup_org(self) -> None:
        self.org_id = (await self.admin("POST", "/orgs", {"name": "Acme"}))["org_id"]
        customers = [
            {"customer_id": "pied-piper", "external_ids": [{"source": "crm", "id": "sf-1"}]},
            {"customer_id": "hooli", "external_ids": [{"source": "crm", "id": "sf-2"}]},
        ]
        await self.admin("PUT", f"/orgs/{self.org_id}/customers", {"customers": customers})
        self.api_key = (await self.admin("POST", f"/orgs/{self.org_id}/api-key"))["api_key"]

    def sources(self) -> str:
        return f"/orgs/{self.org_id}/sources"

    async def runs(self, source_id: str) -> list[dict[str, Any]]:
        return list((await self.admin("GET", f"{self.sources()}/{source_id}/runs"))["runs"])

    async def wait_for_run(
        self, source_id: str, check: Callable[[dict[str, Any]], bool], timeout_s: float = 30.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for run in await self.runs(source_id):
                if run["status"] != "running" and check(run):
                    return run
            await asyncio.sleep(0.2)
        raise AssertionError(f"no matching run within {timeout_s} s: {await self.runs(source_id)}")


@pytest.fixture
def make_stack(kafka_settings: KafkaSettings, clickhouse_settings: ClickHouseSettings) -> Callable[..., Any]:
    @asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[Stack]:
        app = create_app(
            IngressSettings(),
            kafka=kafka_settings,
            clickhouse=clickhouse_settings,
            admin=AdminSettings(admin_token=ADMIN_TOKEN),
            warehouse_settings=warehouse_settings(**overrides),
        )
        app.state.warehouse  # noqa: B018 - built with the control plane
        async with app.router.lifespan_context(app):
            assert await app.state.event_log.wait_ready(15)
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://ingress", headers=headers, timeout=60
            ) as http:
                yield Stack(app, http, clickhouse_settings, kafka_settings, seen=[])

    return running


@pytest.fixture(autouse=True)
def _fast_control_plane(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ControlPlaneSettings(poll_interval_s=0.2, discovery_flush_interval_s=0.2):
        monkeypatch.setenv(f"QUIVLY_CONTROL_{name.upper()}", str(value))


@pytest.fixture
def streams_worker(
    kafka_settings: KafkaSettings,
    clickhouse_settings: ClickHouseSettings,
    tmp_path: Path,
    artifacts_dir: Path,
) -> Iterator[WorkerProcess]:
    app_id = f"streams-warehouse-{uuid.uuid4().hex[:8]}"
    worker = WorkerProcess(
        kafka=kafka_settings,
        clickhouse=clickhouse_settings,
        data_dir=tmp_path / app_id,
        app_id=app_id,
        log_path=artifacts_dir / "warehouse" / f"{app_id}.log",
    )
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def query_api(clickhouse_settings: ClickHouseSettings) -> Iterator[TestClient]:
    app = create_query_app(QuerySettings(auth_cache_ttl_s=0.5), clickhouse_settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def search_values(api: TestClient, key: str) -> dict[tuple[str, str], float]:
    """(customer_id, period_start) -> value of every api_calls event of the organization."""
    response = api.post("/v1/events/search", headers={"Authorization": f"Bearer {key}"}, json={"limit": 100})
    assert response.status_code == 200, response.text
    return {(e["customer_id"], e["period_start"]): e["value"] for e in response.json()["events"]}


async def wait_for_values(
    api: TestClient, key: str, expected: dict[tuple[str, str], float], timeout_s: float = 40.0
) -> None:
    deadline = time.monotonic() + timeout_s
    found: dict[tuple[str, str], float] = {}
    while time.monotonic() < deadline:
        found = search_values(api, key)
        if found == expected:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"search returned {found}, expected {expected}")


def plain_text_of_tables(clickhouse: ClickHouseSettings, prefix: str = "warehouse_") -> str:
    client = make_client(clickhouse)
    try:
        tables = client.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE {p:String}",
            parameters={"p": prefix + "%"},
        ).result_rows
        return "\n".join(str(client.query(f"SELECT * FROM {name}").result_rows) for (name,) in tables)
    finally:
        client.close()
