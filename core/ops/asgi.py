"""The operations endpoints and the request middleware, for any Starlette/FastAPI app.

``instrument(app, service, checks)`` adds, without auth:

* ``GET /health/live``: 200 ``{"status": "ok"}`` while the process runs;
* ``GET /health/ready``: 200 ``{"status": "ok", "checks": {...}}`` when every dependency check
  passes within its timeout, else 503 ``{"status": "unavailable", "checks": {...}}`` with
  ``Retry-After``;
* ``GET /metrics``: the Prometheus text exposition;

and ``RequestMiddleware``: an ``X-Request-ID`` accepted (or generated) and echoed on every
response, the ID in every log line of the request, and the request metrics by route template.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.ops.health import OK, Check, Readiness, check_readiness
from core.ops.logs import accepted_request_id, reset_request_id, set_request_id
from core.ops.metrics import HTTP_LATENCY, HTTP_REQUESTS, READINESS_CHECK, READY, exposition
from core.ops.settings import OpsSettings

OPS_PATHS = ("/health/live", "/health/ready", "/metrics")
access_log = logging.getLogger("quivly.access")
RouteLabel = Callable[[Scope, int], str]


def is_ops_path(path: str) -> bool:
    return path in OPS_PATHS or path.startswith("/health/")


def route_template(scope: Scope, status: int) -> str:
    """The matched route's template (never the raw path: bounded label values)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if status == 404:
        return "unmatched"
    return "other"


class RequestMiddleware:
    """Request ID, access log line and request metrics. Pure ASGI (no per-request task or copy)."""

    def __init__(self, app: ASGIApp, service: str, route_label: RouteLabel = route_template) -> None:
        self.app = app
        self.service = service
        self.route_label = route_label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = accepted_request_id(given)
        if request_id != given:  # the app (and a proxied upstream) sees the ID this response carries
            headers = [(k, v) for k, v in scope.get("headers", ()) if k.lower() != b"x-request-id"]
            scope = {**scope, "headers": [*headers, (b"x-request-id", request_id.encode("latin-1"))]}
        token = set_request_id(request_id)
        started = time.perf_counter()
        status = 500  # an exception before the response started ends as a 500 upstream
        raw_id = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", raw_id))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            method = scope.get("method", "")
            route = self.route_label(scope, status)
            HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
            HTTP_LATENCY.labels(self.service, method, route).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %d %.1f ms", method, scope.get("path", ""), status, elapsed * 1000)
            reset_request_id(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


ChecksSource = Mapping[str, Check] | Callable[[], Mapping[str, Check]]


class ReadinessProbe:
    """Runs the checks and exports the result as gauges. ``GET /metrics`` reuses a result up to
    ``max_age_s`` old, so Prometheus sees readiness (the alert rules) without a probe per scrape."""

    def __init__(self, service: str, checks: ChecksSource, timeout_s: float, max_age_s: float = 5.0) -> None:
        self.service = service
        self.checks = checks
        self.timeout_s = timeout_s
        self.max_age_s = max_age_s
        self._last_at = -math.inf

    async def run(self) -> Readiness:
        current = self.checks() if callable(self.checks) else self.checks
        readiness = await check_readiness(current, self.timeout_s)
        READY.labels(self.service).set(1 if readiness.ready else 0)
        for name, result in readiness.checks.items():
            READINESS_CHECK.labels(self.service, name).set(1 if result == OK else 0)
        self._last_at = time.monotonic()
        return readiness

    async def refresh_if_stale(self) -> None:
        if time.monotonic() - self._last_at >= self.max_age_s:
            await self.run()


def ops_routes(service: str, checks: ChecksSource, settings: OpsSettings | None = None) -> list[Route]:
    """The three endpoints; ``checks`` may be a callable when dependencies exist only at start-up."""
    probe = ReadinessProbe(service, checks, (settings or OpsSettings()).check_timeout_s)

    async def live(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(_: Request) -> Response:
        readiness = await probe.run()
        if readiness.ready:
            return JSONResponse(readiness.body())
        return JSONResponse(readiness.body(), status_code=503, headers={"Retry-After": "1"})

    async def metrics(_: Request) -> Response:
        await probe.refresh_if_stale()
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    return [
        Route("/health/live", live, methods=["GET"], include_in_schema=False),
        Route("/health/ready", ready, methods=["GET"], include_in_schema=False),
        Route("/metrics", metrics, methods=["GET"], include_in_schema=False),
    ]


def instrument(
    app: Starlette,
    service: str,
    checks: ChecksSource,
    settings: OpsSettings | None = None,
    route_label: RouteLabel = route_template,
) -> None:
    """Adds the operations endpoints (first, so no catch-all route shadows them) and the middleware."""
    routes: list[BaseRoute] = list(ops_routes(service, checks, settings))
    if isinstance(app, FastAPI):  # FastAPI's router names the matched route only for its own routes
        routes = [
            APIRoute(r.path, r.endpoint, methods=list(r.methods or ()), include_in_schema=False)
            for r in routes
            if isinstance(r, Route)
        ]
    app.router.routes[0:0] = routes
    app.add_middleware(RequestMiddleware, service=service, route_label=route_label)


def ops_app(
    service: str, checks: ChecksSource, settings: OpsSettings | None = None, **kwargs: Any
) -> Starlette:
    """A small app serving only the operations endpoints (the streams worker, the gateway's ops port)."""
    app = Starlette(routes=ops_routes(service, checks, settings), **kwargs)
    app.add_middleware(RequestMiddleware, service=service)
    return app
