"""The query service: ``create_app()`` builds the FastAPI app (``quivly serve-query`` runs it)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import ApiError, error_body
from core.ops.asgi import instrument
from core.ops.checks import clickhouse_check
from core.ops.settings import OpsSettings
from core.settings import ClickHouseSettings
from query.deps import Services
from query.routes import router
from query.settings import QuerySettings
from query.usage_routes import router as usage_router

log = logging.getLogger("quivly.query")

_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}


def create_app(
    settings: QuerySettings | None = None, clickhouse: ClickHouseSettings | None = None
) -> FastAPI:
    clickhouse = clickhouse or ClickHouseSettings()
    services = Services(settings or QuerySettings(), clickhouse)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        services.close()

    app = FastAPI(
        title="quivly query",
        description="Fetch and search stored usage events (the organization API key as bearer).",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.services = services
    app.include_router(router)
    app.include_router(usage_router)
    _install_error_handlers(app)
    instrument(app, "query", {"clickhouse": clickhouse_check(clickhouse, OpsSettings().check_timeout_s)})

    @app.get("/health", tags=["ops"], summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"path": _path(err.get("loc", ())), "message": str(err.get("msg", ""))} for err in exc.errors()
        ]
        return JSONResponse(
            error_body("VALIDATION_ERROR", "Request validation failed", details), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
        message = "Not found" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        if _is_clickhouse_error(exc):
            log.warning("ClickHouse unavailable: %s", exc)
            body = error_body("UNAVAILABLE", "The event store is unavailable, retry shortly")
            return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
        log.exception("unexpected error")
        return JSONResponse(error_body("INTERNAL_ERROR", "Internal error"), status_code=500)


def _path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "path", "query", "header")]
    return ".".join(parts) or "body"


def _is_clickhouse_error(exc: Exception) -> bool:
    return type(exc).__module__.startswith("clickhouse_connect") or isinstance(
        exc, (ConnectionError, TimeoutError)
    )
