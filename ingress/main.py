"""The ingress app: push API, admin API with the panel (control plane) and the push-call log.

``create_app()`` takes its settings injected (each one not given is read from the environment);
tests pass settings and, where the control plane is not the subject, an in-memory ``Directory``.
The admin API and the panel are mounted only with the control plane (the panel is a client of
the admin API); the push-call route needs only the call log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import FastAPI

from core.edge import install_edge
from core.ops.asgi import instrument
from core.settings import AdminSettings, ClickHouseSettings, HttpServerSettings, KafkaSettings
from ingress.admin.push_calls import build_push_calls_router
from ingress.control.runtime import ControlPlane
from ingress.control.settings import ControlPlaneSettings
from ingress.directory import Directory, MetricDiscovery, NoDiscovery
from ingress.metrics import MeteredCallLog, MeteredEventLog
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

if TYPE_CHECKING:
    from ingress.warehouse.runtime import WarehouseRuntime


def create_app(
    settings: IngressSettings | None = None,
    *,
    kafka: KafkaSettings | None = None,
    clickhouse: ClickHouseSettings | None = None,
    admin: AdminSettings | None = None,
    control: ControlPlaneSettings | None = None,
    http: HttpServerSettings | None = None,
    directory: Directory | None = None,
    discovery: MetricDiscovery | None = None,
    warehouse_settings: WarehouseSettings | None = None,
) -> FastAPI:
    """The ingress app. Without ``directory``, the control plane (admin API and panel included) is built."""
    settings = settings or IngressSettings()
    kafka = kafka or KafkaSettings()
    clickhouse = clickhouse or ClickHouseSettings()
    admin = admin or AdminSettings()

    control_plane = ControlPlane(clickhouse, control or ControlPlaneSettings()) if directory is None else None
    if control_plane is not None:
        directory, discovery = control_plane.directory, discovery or control_plane.discovery
    assert directory is not None
    event_log = KafkaEventLog(kafka, settings)
    call_log = PushCallLog(clickhouse, settings)
    warehouse = None
    if control_plane is not None:
        from ingress.warehouse.runtime import warehouse_for_control_plane

        warehouse = warehouse_for_control_plane(
            warehouse_settings, clickhouse, control_plane, admin, event_log
        )
    idempotency_store = ClickHouseResponseStore(clickhouse)
    push = PushService(
        settings,
        directory,
        discovery or NoDiscovery(),
        MeteredEventLog(event_log),
        IdempotencyGuard(
            idempotency_store,
            timedelta(hours=settings.idempotency_retention_hours),
            settings.idempotency_cache_entries,
            settings.unavailable_retry_after_s,
        ),
        MeteredCallLog(call_log),
    )

    app = FastAPI(
        title="quivly ingress",
        version="0.1.0",
        description="Push product-usage events; administer organizations, customers and configurations.",
        lifespan=_lifespan(event_log, call_log, idempotency_store, control_plane, warehouse),
    )
    app.state.event_log = event_log
    app.state.warehouse = warehouse
    install_edge(app, settings.unavailable_retry_after_s, http)
    app.include_router(build_push_router(push))
    app.include_router(build_push_calls_router(call_log, admin))
    if control_plane is not None:
        _mount_admin(app, control_plane, admin, clickhouse)
    if warehouse is not None:
        from ingress.admin.sources import build_sources_router

        app.include_router(build_sources_router(warehouse, admin))
    document_models(app, [PushRequest])
    instrument(app, "ingress", readiness_checks(kafka, clickhouse, event_log, control_plane))
    return app


def _mount_admin(
    app: FastAPI, control_plane: ControlPlane, admin: AdminSettings, clickhouse: ClickHouseSettings
) -> None:
    from ingress.admin.router import build_admin_router
    from ingress.panel.router import build_panel_router

    app.include_router(build_admin_router(control_plane, admin))
    app.include_router(build_panel_router(admin, clickhouse))


def _lifespan(
    event_log: KafkaEventLog,
    call_log: PushCallLog,
    idempotency_store: ClickHouseResponseStore,
    control_plane: ControlPlane | None,
    warehouse: WarehouseRuntime | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
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
            idempotency_store.close()
            if control_plane is not None:
                await control_plane.stop()

    return lifespan
