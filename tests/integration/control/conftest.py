"""An app with the admin router over a real ClickHouse, and a started ControlPlane."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from core.edge import install_edge
from core.settings import AdminSettings, ClickHouseSettings
from ingress.admin.router import build_admin_router
from ingress.control.runtime import ControlPlane, ControlPlaneSettings

ADMIN_TOKEN = "test-admin-token"
FAST = ControlPlaneSettings(poll_interval_s=0.2, discovery_flush_interval_s=0.2)


@dataclass
class AdminHarness:
    plane: ControlPlane
    client: httpx.AsyncClient

    async def create_org(self, name: str = "Acme") -> str:
        response = await self.client.post("/admin/v1/orgs", json={"name": name})
        assert response.status_code == 201, response.text
        return str(response.json()["org_id"])


def build_app(plane: ControlPlane, admin: AdminSettings) -> FastAPI:
    app = FastAPI()
    install_edge(app, retry_after_s=1)
    app.include_router(build_admin_router(plane, admin))
    return app


@pytest.fixture
async def admin(clickhouse_settings: ClickHouseSettings) -> AsyncIterator[AdminHarness]:
    plane = ControlPlane(clickhouse_settings, FAST)
    await plane.start()
    settings = AdminSettings(admin_token=ADMIN_TOKEN, public_base_url="https://ingest.example.com")
    transport = httpx.ASGITransport(app=build_app(plane, settings))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as client:
        yield AdminHarness(plane, client)
    await plane.stop()
