"""A full local restart (ClickHouse endpoint, broker, both ingress replicas): the control plane survives."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import ClickHouseSettings
from infra.local_components import LocalBroker, LocalClickHouse
from infra.migrate import apply_migrations
from tests.integration.control.processes import Ingress, ingress_env, start_replicas, wait_until

pytestmark = [pytest.mark.clickhouse, pytest.mark.kafka, pytest.mark.slow]


def _start_all(
    data_dir: Path, log_dir: Path, round_: int
) -> tuple[LocalClickHouse, LocalBroker, list[Ingress]]:
    clickhouse = LocalClickHouse.start(data_dir, log_dir / f"chdb-{round_}.log")
    broker = LocalBroker.start(log_dir / f"broker-{round_}.log")
    settings = ClickHouseSettings(url=clickhouse.url, database="quivly_restart")
    apply_migrations(settings)
    env = ingress_env(clickhouse.url, settings.database, broker.bootstrap_servers, "usage-events")
    return clickhouse, broker, start_replicas(2, env, log_dir / f"round-{round_}")


def _stop_all(clickhouse: LocalClickHouse, broker: LocalBroker, replicas: list[Ingress]) -> None:
    for replica in replicas:
        replica.stop()
    broker.stop()
    clickhouse.stop()


def test_every_process_restarts_with_the_control_plane_intact(tmp_path: Path) -> None:
    data_dir = tmp_path / "clickhouse"
    clickhouse, broker, replicas = _start_all(data_dir, tmp_path, 1)
    try:
        first, second = replicas
        org_id = first.admin("POST", "/orgs", {"name": "Acme"})["org_id"]
        first.admin("POST", f"/orgs/{org_id}/api-key")  # rotated away below
        key = second.admin("POST", f"/orgs/{org_id}/api-key")["api_key"]
        customer = {
            "customer_id": "pied-piper",
            "name": "Pied Piper",
            "external_ids": [{"source": "sf", "id": "sf-1"}],
        }
        first.admin("PUT", f"/orgs/{org_id}/customers", {"customers": [customer]})
        first.admin("POST", f"/orgs/{org_id}/configuration", {"source": "push_api"})
        wait_until(lambda: second.push(key, "sf-1").status_code == 200, timeout_s=5)  # discovers api_calls
        wait_until(lambda: first.admin("GET", f"/orgs/{org_id}/metrics")["metrics"], timeout_s=5)
        first.admin("PATCH", f"/orgs/{org_id}/metrics/api_calls", {"rollup": "max"})
        first.admin("POST", f"/orgs/{org_id}/configuration/publish")
        before = {
            "orgs": first.admin("GET", "/orgs"),
            "customers": first.admin("GET", f"/orgs/{org_id}/customers"),
            "metrics": first.admin("GET", f"/orgs/{org_id}/metrics"),
        }
    finally:
        _stop_all(clickhouse, broker, replicas)

    clickhouse, broker, replicas = _start_all(data_dir, tmp_path, 2)
    try:
        # Every replica reads the state before any push: a push moves a metric's last_seen_at.
        for replica in replicas:
            assert replica.admin("GET", "/orgs") == before["orgs"]
            assert replica.admin("GET", f"/orgs/{org_id}/customers") == before["customers"]
            assert replica.admin("GET", f"/orgs/{org_id}/metrics") == before["metrics"]
            config = replica.admin("GET", f"/orgs/{org_id}/configuration")
            assert config["status"] == "published"
        assert before["metrics"]["metrics"][0]["rollup"] == "max"
        for replica in replicas:
            # Resolution from the snapshot loaded at start-up: the key, the customer, live mode.
            report = replica.push(key, "sf-1", dry_run=True)
            assert report.status_code == 200, report.text
            assert report.json()["results"][0]["customer_id"] == "pied-piper"
            live = replica.push(key, "sf-1")
            assert live.status_code == 503 or live.json()["mode"] == "live"
    finally:
        _stop_all(clickhouse, broker, replicas)
