"""Slow and hostile clients against a real uvicorn server with the project's options
(``infra.http_server``) and the shared edge (``core.edge``): header and body timeouts, the
connection cap, proxy trust; and the gateway's body cap."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

from core.edge import install_edge, read_body
from core.settings import HttpServerSettings
from infra import http_server
from infra.gateway import GatewaySettings
from infra.gateway import create_app as create_gateway
from infra.processes import free_port
from tests.integration.system.uvicorn_thread import serving_in_thread

TIMEOUT_S = 1.0


def _app(http: HttpServerSettings) -> FastAPI:
    app = FastAPI()
    install_edge(app, retry_after_s=1, http=http)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await read_body(request, 1024 * 1024))}

    @app.get("/scheme")
    async def scheme(request: Request) -> dict[str, str]:
        return {"scheme": request.url.scheme}

    return app


@contextmanager
def serving(app: object, http: HttpServerSettings, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("QUIVLY_HTTP_HEADER_TIMEOUT_S", str(http.header_timeout_s))
    http_server._header_timeout_s.cache_clear()
    port = free_port()
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=port,
        log_level="critical",
        **http_server.uvicorn_options(http),
    )
    try:
        with serving_in_thread(config):
            yield port
    finally:
        http_server._header_timeout_s.cache_clear()


def _send_raw(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(data)
    return sock


def _read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    started = time.monotonic()
    received = b""
    with sock:
        while chunk := sock.recv(65536):
            received += chunk
    return received, time.monotonic() - started


HALF_SENT = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"
SETTINGS = HttpServerSettings(header_timeout_s=TIMEOUT_S, body_timeout_s=TIMEOUT_S, max_connections=20)


def test_a_body_that_stops_arriving_is_cut_off_within_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(_app(SETTINGS), SETTINGS, monkeypatch) as port:
        received, elapsed = _read_until_closed(_send_raw(port, HALF_SENT + b"0123456789"))
    assert received.startswith(b"HTTP/1.1 408"), received
    assert b'"code":"REQUEST_TIMEOUT"' in received
    assert elapsed < TIMEOUT_S + 2, f"held for {elapsed:.1f} s"


def test_headers_that_never_complete_are_cut_off_within_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(_app(SETTINGS), SETTINGS, monkeypatch) as port:
        received, elapsed = _read_until_closed(_send_raw(port, b"GET /scheme HTTP/1.1\r\nHost: t\r\n"))
    assert received.startswith(b"HTTP/1.1 408"), received
    assert elapsed < TIMEOUT_S + 2, f"held for {elapsed:.1f} s"


def test_a_complete_request_is_unaffected(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(_app(SETTINGS), SETTINGS, monkeypatch) as port:
        response = httpx.post(f"http://127.0.0.1:{port}/echo", content=b"x" * 5000)
    assert response.json() == {"size": 5000}


def test_past_the_connection_cap_new_requests_are_503_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    capped = HttpServerSettings(header_timeout_s=30, body_timeout_s=30, max_connections=5)
    with serving(_app(capped), capped, monkeypatch) as port:
        half_sent = [
            _send_raw(port, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n")
            for _ in range(5)
        ]
        time.sleep(0.3)
        started = time.monotonic()
        refused = httpx.get(f"http://127.0.0.1:{port}/scheme", timeout=5)
        elapsed = time.monotonic() - started
        for sock in half_sent:
            sock.close()
    assert refused.status_code == 503 and elapsed < 2


@pytest.mark.parametrize(
    ("allowed", "scheme"), [("127.0.0.1", "https"), ("*", "https"), ("10.9.8.7", "http")]
)
def test_forwarded_proto_is_believed_only_from_trusted_proxies(
    monkeypatch: pytest.MonkeyPatch, allowed: str, scheme: str
) -> None:
    """Behind a TLS-terminating proxy the request is https (so the panel's cookies are Secure)
    exactly when the proxy's address is in QUIVLY_HTTP_FORWARDED_ALLOW_IPS."""
    monkeypatch.setenv("QUIVLY_HTTP_FORWARDED_ALLOW_IPS", allowed)
    settings = HttpServerSettings()
    with serving(_app(settings), settings, monkeypatch) as port:
        response = httpx.get(f"http://127.0.0.1:{port}/scheme", headers={"X-Forwarded-Proto": "https"})
    assert response.json() == {"scheme": scheme}


def test_the_gateway_caps_bodies_without_buffering_them(monkeypatch: pytest.MonkeyPatch) -> None:
    upstream_app = _app(SETTINGS)
    gateway_settings = GatewaySettings(max_body_bytes=256 * 1024, buffered_body_bytes=4096)
    with serving(upstream_app, SETTINGS, monkeypatch) as upstream_port:
        gateway_settings.query_url = gateway_settings.ingress_url = f"http://127.0.0.1:{upstream_port}"
        with serving(create_gateway(gateway_settings, SETTINGS), SETTINGS, monkeypatch) as port:
            base = f"http://127.0.0.1:{port}"
            small = httpx.post(f"{base}/echo", content=b"x" * 1000)  # buffered, Content-Length
            streamed = httpx.post(f"{base}/echo", content=iter([b"x" * 65536] * 3))  # chunked
            declared = _send_raw(port, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 104857600\r\n\r\n")
            declared_answer, elapsed = _read_until_closed(declared)
            too_long = httpx.post(f"{base}/echo", content=iter([b"x" * 65536] * 8))
    assert small.json() == {"size": 1000} and streamed.json() == {"size": 3 * 65536}
    assert declared_answer.startswith(b"HTTP/1.1 413") and elapsed < TIMEOUT_S + 2
    assert too_long.status_code == 413 and too_long.json()["code"] == "PAYLOAD_TOO_LARGE"
