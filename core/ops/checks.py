"""Readiness checks against the real dependencies (adapters; the logic is in ``core.ops.health``).

Every check opens its own short-lived connection with timeouts no longer than the probe's, so a
hanging dependency never piles up blocked work, and a probe never shares a connection (or a
lock) with the service's own traffic.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from core.clickhouse import make_client
from core.ops.health import Check, NotReady
from core.settings import ClickHouseSettings, KafkaSettings


def clickhouse_check(settings: ClickHouseSettings, timeout_s: float = 2.0) -> Check:
    """``SELECT 1`` in the service's database (so a missing database is "not ready" too)."""
    bounded = settings.model_copy(
        update={"connect_timeout_s": timeout_s, "send_receive_timeout_s": timeout_s}
    )

    def probe() -> None:
        client = make_client(bounded)
        try:
            client.command("SELECT 1")
        finally:
            with contextlib.suppress(Exception):
                client.close()

    async def check() -> None:
        await asyncio.to_thread(probe)

    return check


def kafka_check(settings: KafkaSettings, timeout_s: float = 2.0) -> Check:
    """The broker answers a metadata request and knows the usage topic."""

    async def check() -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers,
            request_timeout_ms=max(500, int(timeout_s * 1000)),
            client_id="quivly-readiness",
        )
        try:
            await admin.start()
            topics = await admin.list_topics()
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        if settings.usage_topic not in topics:
            raise NotReady(f"topic {settings.usage_topic} does not exist")

    return check


def http_check(url: str, timeout_s: float = 2.0) -> Check:
    """An upstream answers ``url`` with a 2xx (the gateway checks its services' liveness)."""

    async def check() -> None:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            answer = await client.get(url)
        if answer.status_code >= 300:
            raise NotReady(f"{url} answered {answer.status_code}")

    return check
