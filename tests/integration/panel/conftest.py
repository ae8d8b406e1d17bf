"""The panel over the real admin API, push-call log and control plane, on a real ClickHouse."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.edge import install_edge
from core.settings import AdminSettings, ClickHouseSettings
from ingress.admin.push_calls import build_push_calls_router
from ingress.admin.router import build_admin_router
from ingress.control.runtime import ControlPlane, ControlPlaneSettings
from ingress.panel.router import build_panel_router
from ingress.push.call_log import PushCallLog
from ingress.settings import IngressSettings

TOKEN = "admin-secret"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Panel:
    client: TestClient
    plane: ControlPlane
    call_log: PushCallLog

    def api(self, method: str, path: str, **kwargs: object) -> object:
        """The admin API's answer, to check what the panel stored."""
        response = self.client.request(method, f"/admin/v1{path}", headers=ADMIN, **kwargs)  # type: ignore[arg-type]
        assert response.status_code < 300, response.text
        return response.json()


def build_app(
    clickhouse: ClickHouseSettings, token: str = TOKEN
) -> tuple[FastAPI, ControlPlane, PushCallLog]:
    admin = AdminSettings(admin_token=token)
    plane = ControlPlane(
        clickhouse, ControlPlaneSettings(poll_interval_s=0.2, discovery_flush_interval_s=0.2)
    )
    call_log = PushCallLog(clickhouse, IngressSettings(push_calls_flush_interval_s=0.2))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await plane.start()
        await call_log.start()
        yield
        await call_log.stop()
        await plane.stop()

    app = FastAPI(lifespan=lifespan)
    install_edge(app, retry_after_s=1)
    app.include_router(build_admin_router(plane, admin))
    app.include_router(build_push_calls_router(call_log, admin))
    app.include_router(build_panel_router(admin, clickhouse))
    return app, plane, call_log


@pytest.fixture
def panel(clickhouse_settings: ClickHouseSettings) -> Iterator[Panel]:
    app, plane, call_log = build_app(clickhouse_settings)
    with TestClient(app) as client:
        yield Panel(client, plane, call_log)
