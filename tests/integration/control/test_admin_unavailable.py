"""The admin API when ClickHouse cannot be reached: 503 UNAVAILABLE with Retry-After, never a 500."""

from __future__ import annotations

import socket

from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.edge import install_edge
from core.settings import AdminSettings, ClickHouseSettings
from ingress.admin.router import build_admin_router
from ingress.control.runtime import ControlPlane, ControlPlaneSettings


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_admin_api_answers_503_when_clickhouse_is_down() -> None:
    """A ClickHouse that does not answer (nothing listens on the port): 503, not 500."""
    clickhouse = ClickHouseSettings(url=f"http://127.0.0.1:{_closed_port()}", connect_timeout_s=1)
    plane = ControlPlane(clickhouse, ControlPlaneSettings())
    admin = AdminSettings(admin_token="t")
    app = FastAPI()
    install_edge(app, retry_after_s=3)
    app.include_router(build_admin_router(plane, admin))
    with TestClient(app, raise_server_exceptions=False) as http:
        response = http.post("/admin/v1/orgs", json={"name": "Acme"}, headers={"Authorization": "Bearer t"})
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "3" and response.json()["code"] == "UNAVAILABLE"
