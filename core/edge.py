"""The service edge shared by every HTTP service (ingress with its admin API, and query).

One place decides what leaves a service when something goes wrong:

* ``ApiError`` → its documented body ``{"success": false, "error", "code", "details"?}``.
* Request validation → 422 ``VALIDATION_ERROR`` with one ``{"path", "message"}`` per failing field,
  paths written like ``events[3].value`` or ``customers[0].external_ids[1].id`` (``field_path``).
* A dependency that is down (ClickHouse, the Kafka broker) → 503 ``UNAVAILABLE`` with the
  service's configured ``Retry-After``; anything else → 500 ``INTERNAL_ERROR`` without a trace.
* Request bodies are read with ``read_body``: streamed and refused with 413 as soon as they are
  known to exceed the limit (by ``Content-Length`` before reading, or while reading).
* A body that stops arriving for ``QUIVLY_HTTP_BODY_TIMEOUT_S`` ends with 408 (``BodyTimeoutMiddleware``).
* Bearer-token checks (the admin token) are constant-time: ``check_bearer_token``.

This module is an adapter (it imports FastAPI); the rules it applies are the project's API
reference, docs/api.md.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import (
    ApiError,
    error_body,
    field_path,
    payload_too_large,
    unavailable,
    validation_failed,
)
from core.settings import HttpServerSettings

log = logging.getLogger(__name__)

JSON = "application/json"

_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    503: "UNAVAILABLE",
}

# Exceptions raised by the clients of our dependencies when the dependency cannot answer.
_DEPENDENCY_MODULES = ("clickhouse_connect.", "aiokafka.", "urllib3.")


# ------------------------------------------------------------------------------------------ bodies
def declared_too_large(content_length: str | None, limit: int) -> bool:
    """True when a ``Content-Length`` header already says the body is over ``limit``."""
    return content_length is not None and content_length.isdigit() and int(content_length) > limit


async def body_chunks(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body as it arrives, ending in 413 as soon as it is known to exceed ``limit``
    bytes (by ``Content-Length`` before reading, or while reading)."""
    if declared_too_large(request.headers.get("content-length"), limit):
        raise payload_too_large(limit)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise payload_too_large(limit)
        yield chunk


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body (never buffered past ``limit``: 413)."""
    return b"".join([chunk async for chunk in body_chunks(request, limit)])


async def read_json(request: Request, limit: int, optional: bool = False) -> Any:
    """The body parsed as JSON (422 on ``body`` when it is not JSON); ``{}`` for an empty optional body."""
    raw = await read_body(request, limit)
    if optional and not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise validation_failed([{"path": "body", "message": "malformed JSON"}]) from None


# ------------------------------------------------------------------------------------- bearer auth
def bearer_unauthorized(message: str) -> ApiError:
    return ApiError(401, "UNAUTHORIZED", message, headers={"WWW-Authenticate": "Bearer"})


def check_bearer_token(presented: str | None, expected: str, message: str) -> None:
    """Raises 401 unless ``presented`` equals ``expected`` (constant time); an empty ``expected``
    opens nothing."""
    if not expected or not presented or not presented.strip():
        raise bearer_unauthorized(message)
    if not hmac.compare_digest(presented.strip().encode("utf-8"), expected.encode("utf-8")):
        raise bearer_unauthorized(message)


def bearer_guard(expected: Callable[[], str], message: str, description: str) -> Callable[..., None]:
    """A FastAPI dependency requiring ``Authorization: Bearer <expected()>``; documented in OpenAPI
    as an HTTP bearer scheme."""
    scheme = HTTPBearer(auto_error=False, description=description)

    # A default rather than ``Annotated``: the annotation is a string here and ``scheme`` is local.
    def require(credentials: HTTPAuthorizationCredentials | None = Depends(scheme)) -> None:
        check_bearer_token(credentials.credentials if credentials else None, expected(), message)

    return require


# ------------------------------------------------------------------------------- dependency down
def is_dependency_down(exc: BaseException) -> bool:
    """True for errors of the ClickHouse or Kafka clients and for network failures and timeouts."""
    module = type(exc).__module__ + "."
    return module.startswith(_DEPENDENCY_MODULES) or isinstance(exc, (ConnectionError, TimeoutError))


DEPENDENCY_DOWN = "A service this API depends on is unavailable; retry shortly"


# ---------------------------------------------------------------------------------- body timeout
def body_timeout() -> ApiError:
    return ApiError(
        408, "REQUEST_TIMEOUT", "The request body stopped arriving", headers={"Connection": "close"}
    )


class BodyTimeoutMiddleware:
    """Ends a request whose body stops arriving for ``timeout_s``: 408 ``REQUEST_TIMEOUT``, and the
    connection is closed (the rest of the body is never read).

    Only waits for the body are bounded: once the body is complete, ``receive`` (which then only
    reports a disconnect) is passed through as it is.
    """

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False
        response_started = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                raise body_timeout() from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, tracked_send)
        except ApiError as error:  # an app without the edge's handlers (the gateway)
            if response_started:
                raise
            await json_response(error.body(), error.status_code, error.headers)(scope, receive, send)


# -------------------------------------------------------------------------------------- handlers
def json_response(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status_code, headers=headers, media_type=JSON)


def install_edge(app: FastAPI, retry_after_s: int, http: HttpServerSettings | None = None) -> None:
    """Installs the exception handlers (every error leaves as the documented body) and the body
    read timeout."""
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=(http or HttpServerSettings()).body_timeout_s)

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return json_response(exc.body(), exc.status_code, exc.headers)

    async def request_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        details = [
            {"path": field_path(err.get("loc", ())), "message": str(err.get("msg", "invalid"))}
            for err in exc.errors()
        ]
        return json_response(validation_failed(details).body(), 422)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "ERROR")
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        return json_response(error_body(code, message), exc.status_code, dict(exc.headers or {}))

    async def client_gone(request: Request, exc: Exception) -> Response:
        log.info("client disconnected during %s %s", request.method, request.url.path)
        return json_response(error_body("CLIENT_DISCONNECTED", "The client went away"), 400)

    async def unexpected(request: Request, exc: Exception) -> Response:
        if is_dependency_down(exc):
            log.warning("dependency unavailable on %s %s: %s", request.method, request.url.path, exc)
            error = unavailable(retry_after_s, DEPENDENCY_DOWN)
            return json_response(error.body(), error.status_code, error.headers)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return json_response(error_body("INTERNAL_ERROR", "Internal server error"), 500)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ClientDisconnect, client_gone)
    app.add_exception_handler(Exception, unexpected)
