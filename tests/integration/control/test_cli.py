"""``quivly admin`` over HTTP against a real ingress process: the CSV import of thousands of customers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.settings import ClickHouseSettings, KafkaSettings
from infra.cli import app
from tests.integration.control.processes import ADMIN_TOKEN, Ingress, ingress_env, start_replicas

pytestmark = [pytest.mark.clickhouse, pytest.mark.kafka, pytest.mark.slow]

CUSTOMERS = 5000


@pytest.fixture
def ingress(
    clickhouse_settings: ClickHouseSettings, kafka_settings: KafkaSettings, tmp_path: Path
) -> Iterator[Ingress]:
    env = ingress_env(
        clickhouse_settings.url,
        clickhouse_settings.database,
        kafka_settings.bootstrap_servers,
        kafka_settings.usage_topic,
    )
    [replica] = start_replicas(1, env, tmp_path)
    yield replica
    replica.stop()


def _admin(ingress: Ingress, *args: str) -> str:
    url = f"http://127.0.0.1:{ingress.port}"
    result = CliRunner().invoke(app, ["admin", "--url", url, "--token", ADMIN_TOKEN, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_imports_a_csv_of_thousands_of_customers(ingress: Ingress, tmp_path: Path) -> None:
    org_id = ingress.admin("POST", "/orgs", {"name": "Acme"})["org_id"]
    lines = ["customer_id,name,source,external_id"]
    for i in range(CUSTOMERS):
        lines.append(f"cust-{i},Customer {i},salesforce,sf-{i}")
        lines.append(f"cust-{i},,hubspot,hs-{i}")
    csv_file = tmp_path / "customers.csv"
    csv_file.write_text("\n".join(lines) + "\n")

    started = time.monotonic()
    output = _admin(ingress, "import-customers", org_id, str(csv_file), "--chunk-size", "2000")
    took = time.monotonic() - started
    print(f"CLI import of {CUSTOMERS} customers ({2 * CUSTOMERS} external IDs): {took:.2f} s")
    assert '"upserted": 5000' in output and '"external_ids_added": 10000' in output

    customers = ingress.admin("GET", f"/orgs/{org_id}/customers")["customers"]
    assert len(customers) == CUSTOMERS
    last = next(c for c in customers if c["customer_id"] == f"cust-{CUSTOMERS - 1}")
    assert last["name"] == f"Customer {CUSTOMERS - 1}"
    assert last["external_ids"] == [
        {"source": "hubspot", "id": f"hs-{CUSTOMERS - 1}"},
        {"source": "salesforce", "id": f"sf-{CUSTOMERS - 1}"},
    ]
    key = _admin(ingress, "generate-key", org_id).strip()
    report = ingress.push(key, "hs-4321").json()
    assert report["results"][0]["customer_id"] == "cust-4321"

    # Importing the same file again changes no external ID.
    again = _admin(ingress, "import-customers", org_id, str(csv_file))
    assert '"external_ids_added": 0' in again and '"external_ids_removed": 0' in again


def test_cli_configuration_and_metrics_commands(ingress: Ingress) -> None:
    org_id = ingress.admin("POST", "/orgs", {"name": "Acme"})["org_id"]
    assert org_id in _admin(ingress, "list-orgs")
    assert '"status": "draft"' in _admin(ingress, "create-config", org_id)
    key = _admin(ingress, "generate-key", org_id).strip()
    shown = _admin(ingress, "show-config", org_id)
    assert "/v1/usage/events" in shown and key in shown
    ingress.admin("PUT", f"/orgs/{org_id}/customers", {"customers": [{"customer_id": "a", "name": "A"}]})
    assert "a" in _admin(ingress, "list-customers", org_id)
    ingress.push(key, "nobody")  # discovers api_calls
    deadline = time.monotonic() + 5
    while "api_calls" not in _admin(ingress, "list-metrics", org_id):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert '"rollup": "avg"' in _admin(ingress, "set-rollup", org_id, "api_calls", "avg")
    assert '"status": "published"' in _admin(ingress, "publish", org_id)
    failed = CliRunner().invoke(
        app, ["admin", "--url", f"http://127.0.0.1:{ingress.port}", "--token", "wrong", "list-orgs"]
    )
    assert failed.exit_code == 1 and "UNAUTHORIZED" in failed.output
