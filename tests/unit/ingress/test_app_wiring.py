"""How ``ingress.main.create_app`` wires the surfaces (no lifespan: nothing is connected)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from core.settings import AdminSettings
from ingress.main import create_app


class StaticDirectory:
    def org_for_api_key(self, api_key: str) -> str | None:
        return None

    def is_published(self, org_id: str) -> bool:
        return False

    def customer_for_external_id(self, org_id: str, external_id: str) -> str | None:
        return None


def test_without_the_control_plane_neither_the_admin_api_nor_the_panel_is_mounted() -> None:
    http = TestClient(create_app(admin=AdminSettings(admin_token="t"), directory=StaticDirectory()))
    assert http.post("/v1/usage/events", json={}).status_code == 401
    assert http.get("/admin/v1/orgs/o/push-calls").status_code == 401  # needs only the call log
    assert http.get("/admin/v1/orgs").status_code == 404
    assert http.get("/admin/login").status_code == 404


def test_with_the_control_plane_the_admin_api_and_the_panel_are_mounted() -> None:
    http = TestClient(create_app(admin=AdminSettings(admin_token="t")))
    assert http.get("/admin/v1/orgs").status_code == 401
    assert http.get("/admin/login").status_code == 200
