"""Two ingress processes over one ClickHouse: changes made on one reach the other within 5 s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.settings import ClickHouseSettings, KafkaSettings
from tests.integration.control.processes import Ingress, ingress_env, start_replicas, wait_until

pytestmark = [pytest.mark.clickhouse, pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture
def replicas(
    clickhouse_settings: ClickHouseSettings, kafka_settings: KafkaSettings, tmp_path: Path
) -> Iterator[list[Ingress]]:
    env = ingress_env(
        clickhouse_settings.url,
        clickhouse_settings.database,
        kafka_settings.bootstrap_servers,
        kafka_settings.usage_topic,
    )
    started = start_replicas(2, env, tmp_path)
    yield started
    for replica in started:
        replica.stop()


def _matched(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.json()["summary"]["matched"] == 1


def _is_live(response: httpx.Response) -> bool:
    return response.status_code == 503 or response.json().get("mode") == "live"


def test_key_rotation_and_new_customers_reach_the_other_replica(replicas: list[Ingress]) -> None:
    first, second = replicas
    org_id = first.admin("POST", "/orgs", {"name": "Acme"})["org_id"]
    old_key = first.admin("POST", f"/orgs/{org_id}/api-key")["api_key"]
    customer = {
        "customer_id": "pied-piper",
        "name": "Pied Piper",
        "external_ids": [{"source": "sf", "id": "sf-1"}],
    }
    first.admin("PUT", f"/orgs/{org_id}/customers", {"customers": [customer]})

    # The new key and the new customer reach the second replica.
    _, took = wait_until(lambda: _matched(second.push(old_key, "sf-1")), timeout_s=5)
    print(f"new key + customer visible on the second replica after {took:.2f} s")
    report = second.push(old_key, "sf-1").json()
    assert report["mode"] == "test" and report["results"][0]["customer_id"] == "pied-piper"

    # Rotation on the first replica: the old key is refused by the second one within 5 s.
    new_key = first.admin("POST", f"/orgs/{org_id}/api-key")["api_key"]
    assert first.push(old_key, "sf-1").status_code == 401  # the writer's own replica: at once
    _, took = wait_until(lambda: second.push(old_key, "sf-1").status_code == 401, timeout_s=5)
    print(f"old key refused by the second replica after {took:.2f} s")
    assert second.push(old_key, "sf-1").json()["code"] == "UNAUTHORIZED"
    wait_until(lambda: _matched(second.push(new_key, "sf-1")), timeout_s=5)

    # A customer registered through the second replica resolves on the first.
    hooli = {"customer_id": "hooli", "name": "Hooli", "external_ids": [{"source": "hubspot", "id": "hs-9"}]}
    second.admin("PUT", f"/orgs/{org_id}/customers", {"customers": [hooli]})
    _, took = wait_until(lambda: _matched(first.push(new_key, "hs-9")), timeout_s=5)
    print(f"customer registered on replica 2 resolves on replica 1 after {took:.2f} s")
    assert first.push(new_key, "hs-9").json()["results"][0]["customer_id"] == "hooli"

    # Removing an external ID stops it resolving everywhere.
    second.admin("DELETE", f"/orgs/{org_id}/customers/hooli/external-ids/hubspot/hs-9")
    wait_until(lambda: first.push(new_key, "hs-9").json()["summary"]["unmatched"] == 1, timeout_s=5)

    # Publishing on one replica makes pushes live on the other.
    first.admin("POST", f"/orgs/{org_id}/configuration", {"source": "push_api"})
    first.admin("POST", f"/orgs/{org_id}/configuration/publish")
    # (A live push writes to the log; a 503 from a slow first produce also proves live mode.)
    _, took = wait_until(lambda: _is_live(second.push(new_key, "sf-1")), timeout_s=5)
    print(f"publish visible on the second replica after {took:.2f} s")

    # Metrics named by pushes on either replica are discovered.
    metrics, _ = wait_until(lambda: first.admin("GET", f"/orgs/{org_id}/metrics")["metrics"], timeout_s=5)
    assert [m["metric_key"] for m in metrics] == ["api_calls"]
