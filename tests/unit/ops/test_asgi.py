from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from core.ops.asgi import instrument
from core.ops.health import NotReady
from core.ops.logs import current_request_id


def _app(ready: bool = True) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str | None]:
        return {"thing_id": thing_id, "request_id": current_request_id()}

    async def dependency() -> None:
        if not ready:
            raise NotReady("snapshot not loaded")

    async def fine() -> None:
        return None

    instrument(app, "unit", {"clickhouse": fine, "control_plane": dependency})
    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _count(route: str, status: str) -> float:
    labels = {"service": "unit", "method": "GET", "route": route, "status": status}
    return REGISTRY.get_sample_value("quivly_http_requests_total", labels) or 0.0


async def test_live_ready_and_unready() -> None:
    async with _client(_app()) as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"clickhouse": "ok", "control_plane": "ok"}}
    async with _client(_app(ready=False)) as client:
        unready = await client.get("/health/ready")
    assert unready.status_code == 503
    assert unready.headers["retry-after"] == "1"
    assert unready.json() == {
        "status": "unavailable",
        "checks": {"clickhouse": "ok", "control_plane": "snapshot not loaded"},
    }
    assert REGISTRY.get_sample_value("quivly_ready", {"service": "unit"}) == 0
    gauge = "quivly_readiness_check"
    assert REGISTRY.get_sample_value(gauge, {"service": "unit", "check": "control_plane"}) == 0
    assert REGISTRY.get_sample_value(gauge, {"service": "unit", "check": "clickhouse"}) == 1


async def test_requests_are_counted_by_route_template_never_by_raw_path() -> None:
    before_ok = _count("/v1/things/{thing_id}", "200")
    before_missing = _count("unmatched", "404")
    before_live = _count("/health/live", "200")
    async with _client(_app()) as client:
        for thing in ("a", "b", "c"):
            assert (await client.get(f"/v1/things/{thing}")).status_code == 200
        assert (await client.get("/nowhere/at/all")).status_code == 404
        assert (await client.get("/health/live")).status_code == 200
        metrics = await client.get("/metrics")
    assert _count("/v1/things/{thing_id}", "200") == before_ok + 3
    assert _count("unmatched", "404") == before_missing + 1
    assert _count("/health/live", "200") == before_live + 1  # the operations routes have templates too
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert (
        'quivly_http_requests_total{method="GET",route="/v1/things/{thing_id}",service="unit",status="200"}'
        in text
    )
    assert "quivly_http_request_duration_seconds_bucket" in text
    assert "/v1/things/a" not in text


async def test_request_id_is_echoed_or_generated_and_seen_by_the_handler() -> None:
    async with _client(_app()) as client:
        given = await client.get("/v1/things/x", headers={"X-Request-ID": "abc-123"})
        generated = await client.get("/v1/things/x")
        refused = await client.get("/v1/things/x", headers={"X-Request-ID": "not valid!"})
        on_error = await client.get("/nowhere")
    assert given.headers["x-request-id"] == "abc-123" and given.json()["request_id"] == "abc-123"
    new_id = generated.headers["x-request-id"]
    assert len(new_id) == 32 and generated.json()["request_id"] == new_id
    assert refused.headers["x-request-id"] != "not valid!"
    assert refused.json()["request_id"] == refused.headers["x-request-id"]
    assert on_error.headers["x-request-id"]
