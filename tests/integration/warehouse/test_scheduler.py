"""One scheduler across replicas (the ClickHouse lease) and the encryption key rule."""

from __future__ import annotations

import asyncio
import itertools
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from core.settings import ClickHouseSettings, KafkaSettings
from ingress.push.event_log import KafkaEventLog
from ingress.settings import IngressSettings
from ingress.warehouse import model
from ingress.warehouse.runtime import WarehouseRuntime
from ingress.warehouse.scheduler import Lease
from ingress.warehouse.secrets import EncryptionKeyMissing, SecretBox
from ingress.warehouse.store import WarehouseStore
from tests.integration.ingress.conftest import FakeDirectory, FakeDiscovery
from tests.integration.warehouse.conftest import ENCRYPTION_KEY, PASSWORD, warehouse_settings

pytestmark = [pytest.mark.clickhouse]


def published_source(clickhouse: ClickHouseSettings, url: str) -> model.Source:
    """A published ClickHouse source reading 3 rows of ``numbers`` every second."""
    source = model.Source(
        "org-a", "src_lease", "lease", "clickhouse", model.STATUS_PUBLISHED,
        {"url": url, "database": "default"}, SecretBox(ENCRYPTION_KEY).seal({"password": PASSWORD}),
        "SELECT 'sf-1' AS external_customer_id, 'api_calls' AS metric_key, toFloat64(number) AS value, "
        "now64(6) AS updated_at FROM numbers(3) WHERE now64(6) > {since:DateTime64(6, 'UTC')}",
        1, "updated_at", 0, datetime.now(UTC), datetime.now(UTC),
    )  # fmt: skip
    store = WarehouseStore(clickhouse)
    store.save_source(source, 1)
    store.close()
    return source


def runtime(
    clickhouse: ClickHouseSettings, kafka: KafkaSettings, holder: str, **settings: Any
) -> WarehouseRuntime:
    return WarehouseRuntime(
        warehouse_settings(**settings),
        clickhouse,
        FakeDirectory,
        FakeDiscovery,
        KafkaEventLog(kafka, IngressSettings()),
        lambda org_id: None,
        holder=holder,
    )


def test_racing_claims_leave_exactly_one_holder(clickhouse_settings: ClickHouseSettings) -> None:
    stores = [WarehouseStore(clickhouse_settings), WarehouseStore(clickhouse_settings)]
    leases = [Lease(store, f"replica-{i}", ttl_s=5.0, settle_s=0.2) for i, store in enumerate(stores)]
    winners = []
    for _ in range(4):
        barrier = threading.Barrier(2)
        results: dict[int, bool] = {}

        def claim(
            index: int, barrier: threading.Barrier = barrier, results: dict[int, bool] = results
        ) -> None:
            barrier.wait()
            results[index] = leases[index].try_hold()

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results.values()) == [False, True]
        assert leases[0].held() != leases[1].held()
        winner = next(index for index, held in results.items() if held)
        winners.append(winner)
        leases[winner].release()  # free again: the next round races for it
    for store in stores:
        store.close()


@pytest.mark.kafka
async def test_two_scheduler_replicas_never_run_a_source_at_once(
    clickhouse_settings: ClickHouseSettings, kafka_settings: KafkaSettings, clickhouse_server_url: str
) -> None:
    source = published_source(clickhouse_settings, clickhouse_server_url)
    replicas = [runtime(clickhouse_settings, kafka_settings, holder) for holder in ("replica-a", "replica-b")]
    for replica in replicas:
        await replica.puller.event_log.start()  # type: ignore[attr-defined]
        await replica.start()
    await asyncio.sleep(5)
    first = next(r for r in replicas if r.scheduler.lease.held())
    await first.stop()  # releases the lease: the other replica takes over
    await asyncio.sleep(5)
    for replica in replicas:
        await replica.stop()
        await replica.puller.event_log.stop()  # type: ignore[attr-defined]
    store = WarehouseStore(clickhouse_settings)
    runs = sorted(store.runs(source.org_id, source.source_id, 500), key=lambda run: run.started_at)
    store.close()
    stopped = "stopped: this ingress process shut down during the run"
    outcomes = [(run.status, run.error, run.scheduler_id) for run in runs]
    assert len(runs) >= 4 and all(run.status == "succeeded" or run.error == stopped for run in runs), outcomes
    for earlier, later in itertools.pairwise(runs):
        assert earlier.finished_at is not None and earlier.finished_at <= later.started_at
    holders = [run.scheduler_id for run in runs]
    second = "replica-b" if first.scheduler.holder == "replica-a" else "replica-a"
    assert holders[0] == first.scheduler.holder and holders[-1] == second
    assert holders == sorted(holders, key=lambda h: h != first.scheduler.holder)  # one hand-over only


@pytest.mark.kafka
async def test_ingress_refuses_to_start_without_the_key_once_sources_exist(
    clickhouse_settings: ClickHouseSettings, kafka_settings: KafkaSettings, clickhouse_server_url: str
) -> None:
    await runtime(clickhouse_settings, kafka_settings, "x", encryption_key="").start()  # no source: fine
    published_source(clickhouse_settings, clickhouse_server_url)
    keyless = runtime(clickhouse_settings, kafka_settings, "y", encryption_key="")
    with pytest.raises(EncryptionKeyMissing, match=r"1 warehouse source.*QUIVLY_WAREHOUSE_ENCRYPTION_KEY"):
        await keyless.start()
    await keyless.stop()
