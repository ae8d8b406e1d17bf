"""The query service: ``create_app()`` builds the FastAPI app (``quivly serve-query`` runs it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from core.edge import install_edge
from core.ops.asgi import instrument
from core.ops.checks import clickhouse_check
from core.ops.settings import OpsSettings
from core.runtime import tune_process
from core.settings import ClickHouseSettings, HttpServerSettings
from query.deps import Services
from query.routes import router
from query.settings import QuerySettings
from query.usage_routes import router as usage_router


def create_app(
    settings: QuerySettings | None = None,
    clickhouse: ClickHouseSettings | None = None,
    http: HttpServerSettings | None = None,
) -> FastAPI:
    clickhouse = clickhouse or ClickHouseSettings()
    services = Services(settings or QuerySettings(), clickhouse)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tune_process()  # answers of thousands of windows without full collections in between
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
    install_edge(app, services.settings.unavailable_retry_after_s, http)
    instrument(app, "query", {"clickhouse": clickhouse_check(clickhouse, OpsSettings().check_timeout_s)})

    @app.get("/health", tags=["ops"], summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
