"""A small reverse proxy that puts the whole public API on one base URL for the local run.

``/v1/events...`` and ``/v1/usage/query`` go to the query service, everything else (push API,
admin API, panel) to ingress. In production a load balancer or ingress controller does this routing instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.edge import BodyTimeoutMiddleware, body_chunks, read_body
from core.errors import ApiError, error_body
from core.settings import HttpServerSettings

QUERY_PREFIX = "/v1/events"
QUERY_PATHS = frozenset({"/v1/usage/query"})  # the rest of /v1/usage (the push API) is ingress
# Hop-by-hop headers (RFC 9110 section 7.6.1) are not forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUIVLY_GATEWAY_", extra="ignore")

    # Where the gateway sends requests: the query service for /v1/events... and /v1/usage/query,
    # ingress for everything else.
    ingress_url: str = "http://127.0.0.1:8001"
    # The query service's base URL.
    query_url: str = "http://127.0.0.1:8002"

    # Longest wait for an upstream's answer; past it the gateway answers 503 UNAVAILABLE.
    timeout_s: float = 30.0
    # Largest body passed on (the largest service limit: the admin API's); larger: 413 at once.
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    # Bodies up to this size (by Content-Length) are read first, so a request can be sent again
    # when a kept-alive upstream connection turns out closed; larger ones are streamed through.
    buffered_body_bytes: int = Field(default=1024 * 1024, ge=0)


def upstream_for(path: str, settings: GatewaySettings) -> str:
    if path == QUERY_PREFIX or path.startswith(QUERY_PREFIX + "/") or path in QUERY_PATHS:
        return settings.query_url
    return settings.ingress_url


async def _send(client: httpx.AsyncClient, outgoing: httpx.Request, replayable: bool) -> httpx.Response:
    """Sends once more when the connection dropped before any answer: uvicorn closes a kept-alive
    connection right after a 500 without saying so, and the next request reusing it fails before a
    single byte comes back (the upstream never read it). Once headers arrived, nothing is retried;
    a streamed body (not ``replayable``) is never sent twice."""
    try:
        return await client.send(outgoing, stream=True)
    except (httpx.NetworkError, httpx.RemoteProtocolError):
        if not replayable:
            raise
        return await client.send(outgoing, stream=True)


async def _body(request: Request, settings: GatewaySettings) -> tuple[bytes | AsyncIterator[bytes], bool]:
    """The body to pass on and whether it can be sent twice: read whole when small, else streamed
    (capped at ``max_body_bytes`` either way, never buffered past it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) <= settings.buffered_body_bytes:
        return await read_body(request, settings.max_body_bytes), True
    return body_chunks(request, settings.max_body_bytes), False


def create_app(settings: GatewaySettings | None = None, http: HttpServerSettings | None = None) -> Starlette:
    settings = settings or GatewaySettings()
    body_timeout_s = (http or HttpServerSettings()).body_timeout_s

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(timeout=settings.timeout_s, limits=limits) as client:
            app.state.client = client
            yield

    async def proxy(request: Request) -> Response:
        client: httpx.AsyncClient = request.app.state.client
        upstream = upstream_for(request.url.path, settings)
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP]
        headers.append(("x-forwarded-host", request.headers.get("host", "")))
        try:
            content, replayable = await _body(request, settings)
            outgoing = client.build_request(
                request.method,
                upstream + request.url.path,
                params=request.url.query,
                headers=headers,
                content=content,
            )
            answer = await _send(client, outgoing, replayable)
            try:
                await answer.aread()
            finally:
                await answer.aclose()
        except ApiError as error:  # 413 (body over the limit) or 408 (body stopped arriving)
            return JSONResponse(error.body(), status_code=error.status_code, headers=error.headers)
        except httpx.HTTPError:
            return JSONResponse(
                error_body("UNAVAILABLE", "The upstream service is unavailable"),
                status_code=503,
                headers={"Retry-After": "1"},
            )
        response = Response(answer.content, status_code=answer.status_code)
        # multi_items keeps repeated headers (Set-Cookie) apart; httpx already decoded the body.
        response.raw_headers.extend(
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in answer.headers.multi_items()
            if k.lower() not in _HOP_BY_HOP and k.lower() != "content-encoding"
        )
        return response

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(
        routes=[Route("/{path:path}", proxy, methods=methods)],
        middleware=[Middleware(BodyTimeoutMiddleware, timeout_s=body_timeout_s)],
        lifespan=lifespan,
    )
