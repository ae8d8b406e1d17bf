"""``POST /v1/usage/query`` while ClickHouse cannot be reached: 503 with Retry-After, no stack trace."""

from __future__ import annotations

from fastapi.testclient import TestClient

from core.settings import ClickHouseSettings
from infra.processes import free_port
from query.main import create_app
from query.settings import QuerySettings


def test_clickhouse_down_is_a_503_with_retry_after() -> None:
    nobody = ClickHouseSettings(url=f"http://127.0.0.1:{free_port()}", connect_timeout_s=1)
    app = create_app(QuerySettings(unavailable_retry_after_s=3), nobody)
    body = {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/v1/usage/query", json=body, headers={"Authorization": "Bearer qvk_any"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"
    assert response.json()["success"] is False and response.json()["code"] == "UNAVAILABLE"
    assert "Traceback" not in response.text
