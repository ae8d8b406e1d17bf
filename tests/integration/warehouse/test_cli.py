"""``quivly admin source …`` against a real ingress process, with a ClickHouse warehouse."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.settings import ClickHouseSettings, KafkaSettings
from infra.cli import app
from tests.integration.control.processes import ADMIN_TOKEN, Ingress, ingress_env, start_replicas
from tests.integration.warehouse.conftest import ENCRYPTION_KEY, PASSWORD
from tests.integration.warehouse.test_clickhouse_source import QUERY, Warehouse

pytestmark = [pytest.mark.clickhouse, pytest.mark.kafka]


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
    env |= {
        "QUIVLY_WAREHOUSE_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "QUIVLY_WAREHOUSE_TICK_S": "0.2",
        "QUIVLY_WAREHOUSE_MIN_INTERVAL_S": "1",
        "QUIVLY_WAREHOUSE_LEASE_SETTLE_S": "0.05",
    }
    [replica] = start_replicas(1, env, tmp_path)
    yield replica
    replica.stop()


def admin(ingress: Ingress, *args: str, stdin: str | None = None) -> str:
    url = f"http://127.0.0.1:{ingress.port}"
    result = CliRunner().invoke(
        app,
        ["admin", "--url", url, "--token", ADMIN_TOKEN, "source", *args],
        input=stdin,
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_creates_test_runs_publishes_and_lists_runs(
    ingress: Ingress, clickhouse_server_url: str, tmp_path: Path
) -> None:
    warehouse = Warehouse(clickhouse_server_url)
    try:
        stamp = datetime(2026, 11, 25, 12, tzinfo=UTC)
        warehouse.add(
            ("sf-1", "api_calls", 3, stamp, "", stamp), ("nobody", "api_calls", 1, stamp, "", stamp)
        )
        org_id = ingress.admin("POST", "/orgs", {"name": "Acme"})["org_id"]
        customers = [{"customer_id": "pied-piper", "external_ids": [{"source": "crm", "id": "sf-1"}]}]
        ingress.admin("PUT", f"/orgs/{org_id}/customers", {"customers": customers})

        created = admin(
            ingress, "create", org_id, "--kind", "clickhouse", "--name", "CH usage",
            "--setting", f"url={warehouse.url}", "--setting", f"database={warehouse.database}",
            "--secret", "password", "--query", QUERY, "--interval", "1",
            "--watermark-column", "updated_at", "--lookback", "60",
            stdin=PASSWORD + "\n",
        )  # fmt: skip
        source_id = json.loads(created[created.index("{") :])["source_id"]
        assert '"password": "********"' in created and PASSWORD not in created.split("password:")[-1]

        report = admin(ingress, "test-run", org_id, source_id)
        assert "matched 1, unmatched 1, invalid 0" in report and "nobody" in report

        assert '"status": "published"' in admin(ingress, "publish", org_id, source_id, "--yes")
        deadline = time.monotonic() + 30
        while "succeeded" not in (runs := admin(ingress, "runs", org_id, source_id)):
            assert time.monotonic() < deadline, runs
            time.sleep(0.3)
        assert "CH usage" in admin(ingress, "list", org_id)
        assert PASSWORD not in admin(ingress, "show", org_id, source_id)
        assert '"status": "paused"' in admin(ingress, "pause", org_id, source_id)
    finally:
        warehouse.drop()
    ingress.stop()
    assert PASSWORD not in ingress.log_path.read_text()


def test_generate_encryption_key_prints_a_fernet_key() -> None:
    result = CliRunner().invoke(app, ["admin", "source", "generate-encryption-key"])
    assert result.exit_code == 0 and len(result.output.strip()) == 44
