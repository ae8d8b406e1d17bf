"""The gateway process with its operations endpoints on a port of their own.

The public port proxies the API (``infra.gateway``) and answers 404 for ``/health/*`` and
``/metrics``: neither the gateway's own nor the services' operations endpoints are reachable
through the public URL. The gateway's ``/health/live``, ``/health/ready`` (ready = ingress and
query answer their liveness) and ``/metrics`` are served by the same process on
``QUIVLY_GATEWAY_OPS_PORT``: one uvicorn server listening on both sockets, the request's local
port decides which app answers.
"""

from __future__ import annotations

import socket

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import error_body
from core.ops.asgi import RequestMiddleware, is_ops_path, ops_app
from core.ops.checks import http_check
from core.ops.settings import OpsSettings
from infra.gateway import GatewaySettings, upstream_for
from infra.gateway import create_app as create_public_app


class GatewayOpsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUIVLY_GATEWAY_", extra="ignore")

    # Port of the gateway's own /health/* and /metrics (never served on its public port).
    ops_port: int = Field(default=8010, ge=1, le=65535)


class PortSplit:
    """Requests to ``ops_port`` go to ``ops``; everything else to ``public`` (ops paths: 404)."""

    def __init__(self, public: ASGIApp, ops: ASGIApp, ops_port: int) -> None:
        self.public = public
        self.ops = ops
        self.ops_port = ops_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            server = scope.get("server") or ("", None)
            if server[1] == self.ops_port:
                await self.ops(scope, receive, send)
                return
            if is_ops_path(scope["path"]):
                response = JSONResponse(error_body("NOT_FOUND", "Not found"), status_code=404)
                await response(scope, receive, send)
                return
        await self.public(scope, receive, send)


def create_app() -> ASGIApp:
    settings = GatewaySettings()
    ops = OpsSettings()
    split = GatewayOpsSettings()

    def upstream_label(scope: Scope, _status: int) -> str:
        return "query" if upstream_for(scope.get("path", ""), settings) == settings.query_url else "ingress"

    checks = {
        "ingress": http_check(settings.ingress_url + "/health/live", ops.check_timeout_s),
        "query": http_check(settings.query_url + "/health/live", ops.check_timeout_s),
    }
    public = RequestMiddleware(create_public_app(settings), service="gateway", route_label=upstream_label)
    return PortSplit(public, ops_app("gateway", checks, ops), split.ops_port)


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(host: str, port: int, ops_port: int | None = None) -> None:
    """Runs the gateway on ``port`` (public) and ``ops_port`` (operations) in one process."""
    import os

    import uvicorn

    from core.ops.logs import logging_config
    from core.settings import HttpServerSettings
    from infra.http_server import uvicorn_options

    if ops_port is not None:
        os.environ["QUIVLY_GATEWAY_OPS_PORT"] = str(ops_port)
    ops_port = GatewayOpsSettings().ops_port
    config = uvicorn.Config(
        "infra.gateway_ops:create_app",
        factory=True,
        log_config=logging_config("gateway"),
        access_log=False,
        **uvicorn_options(HttpServerSettings()),
    )
    uvicorn.Server(config).run(sockets=[listening_socket(host, port), listening_socket(host, ops_port)])
