"""The ingress app: push API, admin API (control plane) and the push-call log.

``create_app()`` reads every setting from the environment; tests pass settings and, where the
control plane is not the subject, an in-memory ``Directory``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from core.edge import install_edge
from core.ops.asgi import instrument
from core.settings import AdminSettings, ClickHouseSettings, KafkaSettings
from ingress.admin.push_calls import build_push_calls_router
from ingress.directory import Directory, MetricDiscovery
from ingress.metrics import MeteredCallLog, MeteredEventLog
from ingress.panel.router import build_panel_router
from ingress.push.call_log import PushCallLog
from ingress.push.event_log import KafkaEventLog
from ingress.push.idempotency import IdempotencyGuard
from ingress.push.idempotency_store import ClickHouseResponseStore
from ingress.push.models import PushRequest
from ingress.push.router import build_push_router, document_models
from ingress.push.service import PushService
from ingress.readiness import readiness_checks
from ingress.settings import IngressSettings
from ingress.warehouse.settings import WarehouseSettings


def create_app(
    settings: IngressSettings | None = None,
    *,
    kafka: KafkaSettings | None = None,
    clickhouse: ClickHouseSettings | None = None,
    admin: AdminSettings | None = None,
    directory: Directory | None = None,
    discovery: MetricDiscovery | None = None,
    warehouse_settings: WarehouseSettings | None = None,
) -> FastAPI:
    """The ingress app. Without ``directory``, the control plane (admin API included) is built."""
    settings = settings or IngressSettings()
    kafka = kafka or KafkaSettings()
    clickhouse = clickhouse or ClickHouseSettings()
    admin = admin or AdminSettings()

    control_plane = None
    if directory is None:
        from ingress.control.runtime import ControlPlane, ControlPlaneSettings

        control_plane = ControlPlane(clickhouse, ControlPlaneSettings())

    event_log = KafkaEventLog(kafka, settings)
    call_log = PushCallLog(clickhouse, settings)
    warehouse = None
    if control_plane is not None:
        from ingress.warehouse.runtime import warehouse_for_control_plane

        warehouse = warehouse_for_control_plane(
            warehouse_settings, clickhouse, control_plane, admin, event_log
        )

    def current_directory() -> Directory:
        return directory if directory is not None else control_plane.directory  # type: ignore[union-attr]

    def current_discovery() -> MetricDiscovery:
        if discovery is not None:
            return discovery
        if control_plane is not None:
            return control_plane.discovery
        return _NoDiscovery()

    state: dict[str, PushService] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        guard = IdempotencyGuard(
            ClickHouseResponseStore(clickhouse),
            timedelta(hours=settings.idempotency_retention_hours),
            settings.idempotency_cache_entries,
        )
        state["push"] = PushService(
            settings,
            current_directory,
            current_discovery,
            MeteredEventLog(event_log),
            guard,
            MeteredCallLog(call_log),
        )
        if control_plane is not None:
            await control_plane.start()
        await event_log.start()
        await call_log.start()
        if warehouse is not None:
            await warehouse.start()
        try:
            yield
        finally:
            if warehouse is not None:
                await warehouse.stop()
            await call_log.stop()
            await event_log.stop()
            if control_plane is not None:
                await control_plane.stop()

    app = FastAPI(
        title="quivly ingress",
        version="0.1.0",
        description="Push product-usage events; administer organizations, customers and configurations.",
        lifespan=lifespan,
    )
    app.state.event_log = event_log
    app.state.call_log = call_log
    app.state.services = state
    app.state.warehouse = warehouse
    install_edge(app, settings.unavailable_retry_after_s)
    app.include_router(build_push_router(lambda: state["push"]))
    app.include_router(build_push_calls_router(call_log, admin))
    if control_plane is not None:
        from ingress.admin.router import build_admin_router

        app.include_router(build_admin_router(control_plane, admin))
    if warehouse is not None:
        from ingress.admin.sources import build_sources_router

        app.include_router(build_sources_router(warehouse, admin))
    app.include_router(build_panel_router(admin, clickhouse))
    document_models(app, [PushRequest])
    instrument(app, "ingress", readiness_checks(kafka, clickhouse, event_log, control_plane))
    return app


class _NoDiscovery:
    def saw(self, org_id: str, metric_keys: object, at: object) -> None:
        return None
