from pathlib import Path

import pytest

from infra.gateway import GatewaySettings, upstream_for
from infra.local_run import admin_token, curl_example


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/v1/events/search", "query"),
        ("/v1/events/0b8f0c1e-0000-0000-0000-000000000000", "query"),
        ("/v1/events", "query"),
        ("/v1/usage/events", "ingress"),
        ("/v1/usage/query", "query"),
        ("/v1/eventsX", "ingress"),
        ("/admin/v1/orgs", "ingress"),
        ("/admin/", "ingress"),
    ],
)
def test_gateway_routes_query_paths_to_query_and_the_rest_to_ingress(path: str, service: str) -> None:
    settings = GatewaySettings(ingress_url="http://ingress", query_url="http://query")
    assert upstream_for(path, settings) == f"http://{service}"


def test_admin_token_is_generated_once_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUIVLY_ADMIN_TOKEN", raising=False)
    first = admin_token(tmp_path)
    assert len(first) > 30
    assert admin_token(tmp_path) == first
    assert (tmp_path / "admin-token").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("QUIVLY_ADMIN_TOKEN", "configured")
    assert admin_token(tmp_path) == "configured"


def test_curl_example_is_ready_to_run() -> None:
    example = curl_example("http://127.0.0.1:8000", "qvk_secret")
    assert "http://127.0.0.1:8000/v1/usage/events" in example
    assert "Authorization: Bearer qvk_secret" in example
    assert '"external_customer_id": "0015g00000ABC"' in example
