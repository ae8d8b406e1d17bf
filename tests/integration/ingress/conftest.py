"""The ingress app against the real broker and ClickHouse, with an in-memory control plane."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI

from core.settings import AdminSettings, ClickHouseSettings, KafkaSettings
from ingress.main import create_app
from ingress.settings import IngressSettings

API_KEY = "qvk_test_key_0123456789abcdef"
OTHER_KEY = "qvk_other_key_0123456789abcdef"
ADMIN_TOKEN = "admin-secret"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@dataclass
class FakeDirectory:
    keys: dict[str, str] = field(default_factory=lambda: {API_KEY: "org-a", OTHER_KEY: "org-b"})
    published: set[str] = field(default_factory=lambda: {"org-a"})
    customers: dict[tuple[str, str], str] = field(
        default_factory=lambda: {
            ("org-a", "sf-1"): "pied-piper",
            ("org-a", "hs-1"): "pied-piper",
            ("org-a", "sf-2"): "hooli",
            ("org-b", "sf-1"): "b-customer",
        }
    )

    def org_for_api_key(self, api_key: str) -> str | None:
        return self.keys.get(api_key)

    def is_published(self, org_id: str) -> bool:
        return org_id in self.published

    def customer_for_external_id(self, org_id: str, external_id: str) -> str | None:
        return self.customers.get((org_id, external_id))


@dataclass
class FakeDiscovery:
    seen: list[tuple[str, set[str]]] = field(default_factory=list)

    def saw(self, org_id: str, metric_keys: Iterable[str], at: datetime) -> None:
        self.seen.append((org_id, set(metric_keys)))


@dataclass
class Ingress:
    app: FastAPI
    client: httpx.AsyncClient
    directory: FakeDirectory
    discovery: FakeDiscovery


AppFactory = Callable[..., Any]


@pytest.fixture
def make_ingress(
    kafka_settings: KafkaSettings, clickhouse_settings: ClickHouseSettings
) -> Callable[..., Any]:
    """``async with make_ingress(**settings) as ingress`` runs the app's lifespan around a client."""

    @asynccontextmanager
    async def running(
        kafka: KafkaSettings | None = None, wait_for_broker: bool = True, **overrides: Any
    ) -> AsyncIterator[Ingress]:
        directory, discovery = FakeDirectory(), FakeDiscovery()
        app = create_app(
            IngressSettings(**overrides),
            kafka=kafka or kafka_settings,
            clickhouse=clickhouse_settings,
            admin=AdminSettings(admin_token=ADMIN_TOKEN),
            directory=directory,
            discovery=discovery,
        )
        async with app.router.lifespan_context(app):
            if wait_for_broker:
                assert await app.state.event_log.wait_ready(15)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
                yield Ingress(app, client, directory, discovery)

    return running


async def consume_all(kafka: KafkaSettings, expected: int, timeout_s: float = 10.0) -> list[Any]:
    """Reads the usage topic from the beginning until ``expected`` records arrived (or time is up)."""
    consumer = AIOKafkaConsumer(
        kafka.usage_topic,
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        import asyncio

        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for batch in batches.values():
                records.extend(batch)
        if expected == 0:
            batches = await consumer.getmany(timeout_ms=1000)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records
