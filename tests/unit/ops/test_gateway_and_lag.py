"""The gateway's port split and the worker's lag figures, without a network or a broker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from core.ops.asgi import ops_app
from infra.gateway_ops import PortSplit
from streams import metrics
from streams.ops import update_lag


def _public() -> Starlette:
    async def anything(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"proxied {request.url.path}")

    return Starlette(routes=[Route("/{path:path}", anything)])


async def _get(app: Any, port: int, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{port}") as client:
        return await client.get(path)


async def test_the_public_port_never_serves_operations_paths_and_the_ops_port_does() -> None:
    async def fine() -> None:
        return None

    split = PortSplit(_public(), ops_app("gateway", {"ingress": fine}), ops_port=8010)
    # httpx's ASGI transport puts the URL's host and port into scope["server"].
    for path in ("/health/live", "/health/ready", "/metrics", "/health/anything"):
        public = await _get(split, 8000, path)
        assert public.status_code == 404 and public.json()["code"] == "NOT_FOUND", path
    assert (await _get(split, 8000, "/v1/usage/events")).text == "proxied /v1/usage/events"
    ready = await _get(split, 8010, "/health/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"ingress": "ok"}
    assert "quivly_ready" in (await _get(split, 8010, "/metrics")).text


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass
class FakeConsumer:
    assigned: set[TP]
    highwaters: dict[int, int | None]
    positions: dict[int, int] = field(default_factory=dict)

    def assignment(self) -> set[TP]:
        return self.assigned

    def highwater(self, tp: TP) -> int | None:
        return self.highwaters[tp.partition]

    async def position(self, tp: TP) -> int | None:
        return self.positions.get(tp.partition)


@dataclass
class FakeApp:
    consumer: FakeConsumer


def _lag(partition: int) -> float | None:
    return REGISTRY.get_sample_value("quivly_streams_consumer_lag", {"partition": str(partition)})


async def test_lag_is_the_highwater_minus_the_next_offset_to_process() -> None:
    metrics.acked_offsets.clear()
    metrics.acked_offsets.update({0: 99, 9: 5})  # partition 9 moved to another worker
    consumer = FakeConsumer(
        {TP("usage", 0), TP("usage", 1), TP("usage", 2), TP("other", 3)},
        {0: 150, 1: 40, 2: None},
        positions={1: 30},
    )
    await update_lag(FakeApp(consumer), "usage")  # type: ignore[arg-type]
    assert _lag(0) == 50  # acked up to 99: 100..149 waiting
    assert _lag(1) == 10  # nothing acked here yet: from the fetch position
    assert _lag(2) is None  # no high watermark known yet: not exported
    assert 9 not in metrics.acked_offsets

    consumer.assigned = {TP("usage", 1)}  # a rebalance took partition 0 away
    await update_lag(FakeApp(consumer), "usage")  # type: ignore[arg-type]
    assert _lag(0) is None and _lag(1) == 10
    metrics.acked_offsets.clear()
