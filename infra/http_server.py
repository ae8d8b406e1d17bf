"""How every HTTP process (ingress, query, gateway) meets slow clients and proxies (uvicorn).

* **Proxy trust**: ``X-Forwarded-Proto``/``X-Forwarded-For`` are believed only from the addresses
  in ``QUIVLY_HTTP_FORWARDED_ALLOW_IPS`` (default: this machine). Behind a TLS-terminating proxy
  on another host, list its address (or ``*`` when only the proxy can reach the service): then
  the request scheme is ``https`` and the panel's cookies keep their ``Secure`` flag.
* **Header timeout**: a connection whose request line and headers are not complete within
  ``QUIVLY_HTTP_HEADER_TIMEOUT_S`` of its first byte (or of the connection) is closed. uvicorn
  has no such timeout of its own, hence ``HeaderTimeoutProtocol``.
* **Body timeout**: a request body that stops arriving for ``QUIVLY_HTTP_BODY_TIMEOUT_S`` is
  answered 408 and the connection closed (``core.edge.BodyTimeoutMiddleware``, in every app).
* **Connection cap**: past ``QUIVLY_HTTP_MAX_CONNECTIONS`` open connections (per process) a new
  request is answered 503 at once; idle kept-alive connections close after
  ``QUIVLY_HTTP_KEEP_ALIVE_TIMEOUT_S``.
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from core.errors import error_body
from core.settings import HttpServerSettings


def uvicorn_options(settings: HttpServerSettings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run``/``uvicorn.Config`` that apply ``settings``."""
    return {
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "limit_concurrency": settings.max_connections,
        "http": HeaderTimeoutProtocol,
    }


@cache
def _header_timeout_s() -> float:
    # Read once per process: uvicorn builds the protocol itself (in each worker process).
    return HttpServerSettings().header_timeout_s


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose headers do not complete in time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(_header_timeout_s(), self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(_HEADERS_TOO_SLOW)
            self.transport.close()


def _raw_response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


_HEADERS_TOO_SLOW = _raw_response(
    "408 Request Timeout", orjson.dumps(error_body("REQUEST_TIMEOUT", "Request headers took too long"))
)
