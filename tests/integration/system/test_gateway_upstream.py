"""The local gateway in front of a real uvicorn upstream: an upstream 500 (uvicorn closes that
connection right after answering) must not turn the next request on the reused connection into a
503."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from infra.gateway import GatewaySettings, create_app
from infra.processes import free_port
from tests.integration.system.uvicorn_thread import serving_in_thread


def _upstream() -> Starlette:
    async def broken(request: Request) -> Response:
        raise RuntimeError("a bug")

    async def fine(request: Request) -> Response:
        return JSONResponse({"ok": True, "body": (await request.body()).decode()})

    async def internal_error(request: Request, exc: Exception) -> Response:
        return JSONResponse({"success": False, "code": "INTERNAL_ERROR"}, status_code=500)

    routes = [Route("/v1/events/broken", broken), Route("/v1/events/fine", fine, methods=["GET", "POST"])]
    return Starlette(routes=routes, exception_handlers={Exception: internal_error})


@pytest.fixture
def upstream_url() -> Iterator[str]:
    port = free_port()
    with serving_in_thread(uvicorn.Config(_upstream(), host="127.0.0.1", port=port, log_level="critical")):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
async def gateway(upstream_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(GatewaySettings(ingress_url=upstream_url, query_url=upstream_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


async def test_requests_after_an_upstream_500_are_answered(gateway: httpx.AsyncClient) -> None:
    statuses: list[tuple[int, int]] = []
    for index in range(100):
        bad = await gateway.get("/v1/events/broken")
        good = await gateway.post("/v1/events/fine", content=f"request {index}")
        statuses.append((bad.status_code, good.status_code))
        assert good.status_code != 200 or good.json()["body"] == f"request {index}"
    assert statuses == [(500, 200)] * 100
