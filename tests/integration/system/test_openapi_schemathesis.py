"""The OpenAPI schemas of ingress and query are complete enough to drive a client: schemathesis
reads each service's ``/openapi.json``, generates requests for every operation (a bounded number
of examples each) and sends them to the real services (uvicorn processes over the real broker and
ClickHouse) with a valid key or admin token. No answer may be a server error."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.generation.case import Case

from core.settings import ClickHouseSettings, KafkaSettings
from infra.processes import free_port, start_process, stop_process, wait_for_port

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

ADMIN_TOKEN = "schemathesis-admin-token"
EXAMPLES_PER_OPERATION = 12


def _environment(kafka: KafkaSettings, clickhouse: ClickHouseSettings) -> dict[str, str]:
    return {
        "QUIVLY_CLICKHOUSE_URL": clickhouse.url,
        "QUIVLY_CLICKHOUSE_DATABASE": clickhouse.database,
        "QUIVLY_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "QUIVLY_KAFKA_USAGE_TOPIC": kafka.usage_topic,
        "QUIVLY_KAFKA_DEAD_LETTER_TOPIC": kafka.dead_letter_topic,
        "QUIVLY_ADMIN_TOKEN": ADMIN_TOKEN,
        "QUIVLY_CONTROL_POLL_INTERVAL_S": "0.3",
        "QUIVLY_QUERY_AUTH_CACHE_TTL_S": "0.3",
        # Generated requests hit one organization far more than 1000 times a minute.
        "QUIVLY_INGRESS_RATE_LIMIT_PER_MINUTE": "100000",
    }


@contextmanager
def _serving(command: str, env: dict[str, str], log_path: Path) -> Iterator[str]:
    port = free_port()
    process: subprocess.Popen[bytes] = start_process(
        [sys.executable, "-m", "infra.cli", command, "--port", str(port)], log_path, env
    )
    try:
        wait_for_port(port, 30, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)


@pytest.fixture
def services(
    kafka_settings: KafkaSettings, clickhouse_settings: ClickHouseSettings, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    env = _environment(kafka_settings, clickhouse_settings)
    with (
        _serving("serve-ingress", env, tmp_path / "ingress.log") as ingress,
        _serving("serve-query", env, tmp_path / "query.log") as query,
    ):
        yield ingress, query


def _seed(ingress: str) -> str:
    """A published organization with a customer; returns its API key."""
    admin = httpx.Client(base_url=f"{ingress}/admin/v1", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    org_id = admin.post("/orgs", json={"name": "Schemathesis"}).json()["org_id"]
    customers = [{"customer_id": "c1", "name": "C1", "external_ids": [{"source": "sf", "id": "x1"}]}]
    assert admin.put(f"/orgs/{org_id}/customers", json={"customers": customers}).status_code == 200
    assert admin.post(f"/orgs/{org_id}/configuration", json={"source": "push_api"}).status_code == 201
    assert admin.post(f"/orgs/{org_id}/configuration/publish").status_code == 200
    return str(admin.post(f"/orgs/{org_id}/api-key").json()["api_key"])


def _server_errors(base_url: str, headers_for: Any) -> list[str]:
    """Runs every operation of the service's schema; returns a line per 5xx answer."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    errors: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the schema lists no operation"
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Case) -> None:
            response = case.call(base_url=base_url, headers=headers_for(case.path), timeout=30)
            if response.status_code >= 500:
                errors.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
                )

        run()
    return errors


def test_generated_requests_get_no_server_error(services: tuple[str, str]) -> None:
    ingress, query = services
    api_key = _seed(ingress)

    def headers_for(path: str) -> dict[str, str]:
        token = ADMIN_TOKEN if path.startswith("/admin/") else api_key
        return {"Authorization": f"Bearer {token}"}

    errors = _server_errors(ingress, headers_for) + _server_errors(query, headers_for)
    assert errors == []
