"""A ClickHouse warehouse source end to end, against the project's local ClickHouse endpoint."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from core.clickhouse import make_client
from core.settings import ClickHouseSettings
from infra.processes import free_port
from ingress.push.event_log import EventLogUnavailable
from tests.integration.ingress.conftest import consume_all
from tests.integration.streams.helpers import WorkerProcess
from tests.integration.warehouse.conftest import (
    PASSWORD,
    plain_text_of_tables,
    wait_for_values,
    warehouse_source_body,
)

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

T = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # "now" of the warehouse's updated_at column
DAY1, DAY2 = "2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z"
QUERY = (
    "SELECT customer AS external_customer_id, metric AS metric_key, value, ts AS timestamp, "
    "props AS properties, updated_at FROM usage "
    "WHERE updated_at > {since:DateTime64(6, 'UTC')} ORDER BY updated_at"
)


class Warehouse:
    """A database of the local ClickHouse endpoint playing the customer's warehouse."""

    def __init__(self, url: str) -> None:
        self.database = f"wh_{uuid.uuid4().hex[:10]}"
        self.url = url
        self.client = make_client(ClickHouseSettings(url=url), database="default")
        self.client.command(f"CREATE DATABASE {self.database}")
        self.client.command(
            f"CREATE TABLE {self.database}.usage (customer String, metric String, value Float64, "
            "ts DateTime64(3, 'UTC'), props String, updated_at DateTime64(6, 'UTC')) "
            "ENGINE = MergeTree ORDER BY updated_at"
        )

    def add(self, *rows: tuple[str, str, float, datetime, str, datetime]) -> None:
        columns = ["customer", "metric", "value", "ts", "props", "updated_at"]
        self.client.insert(f"{self.database}.usage", [list(r) for r in rows], column_names=columns)

    def connection(self, url: str | None = None) -> dict[str, Any]:
        return {
            "url": url or self.url,
            "database": self.database,
            "username": "default",
            "password": PASSWORD,
        }

    def drop(self) -> None:
        self.client.command(f"DROP DATABASE IF EXISTS {self.database}")
        self.client.close()


@pytest.fixture
def warehouse(clickhouse_server_url: str) -> Iterator[Warehouse]:
    found = Warehouse(clickhouse_server_url)
    yield found
    found.drop()


def source_body(connection: dict[str, Any], query: str = QUERY) -> dict[str, Any]:
    return warehouse_source_body("clickhouse", connection, query)


async def warehouse_metrics(stack: Any) -> dict[tuple[str, str], float]:
    """The warehouse samples of ingress's ``GET /metrics``: (name, outcome or status) -> value."""
    response = await stack.http.get("/metrics")
    assert response.status_code == 200
    samples: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if (
                sample.name.startswith("quivly_warehouse_")
                and sample.labels.get("kind", "clickhouse") == "clickhouse"
            ):
                label = sample.labels.get("outcome") or sample.labels.get("status") or ""
                samples[(sample.name, label)] = sample.value
    return samples


async def test_test_run_then_scheduled_runs_store_replace_and_stay_incremental(
    make_stack: Any,
    warehouse: Warehouse,
    streams_worker: WorkerProcess,
    query_api: TestClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    at = datetime(2026, 11, 20, 9, tzinfo=UTC)
    warehouse.add(
        ("sf-1", "api_calls", 10, at, '{"plan":"pro"}', T - timedelta(hours=1)),
        ("sf-2", "api_calls", 5, at, "", T - timedelta(minutes=30)),
        ("unknown-9", "api_calls", 1, at, "", T - timedelta(minutes=30)),
        ("sf-2", "api_calls", float("nan"), at, "", T - timedelta(seconds=100)),
    )
    async with make_stack() as stack:
        await stack.setup_org()
        created = await stack.admin("POST", stack.sources(), source_body(warehouse.connection()), expect=201)
        source = f"{stack.sources()}/{created['source_id']}"
        assert created["status"] == "draft" and created["connection"]["password"] == "********"

        report = await stack.admin("POST", f"{source}/test-run")
        assert report["stored"] is False and report["mode"] == "test"
        assert report["summary"] == {"total": 4, "matched": 2, "unmatched": 1, "invalid": 1}
        assert report["unmatched_external_ids"] == ["unknown-9"]
        assert report["errors"][0]["code"] == "UNKNOWN_CUSTOMER" and report["errors"][0]["index"] == 2
        assert report["invalid_rows"] == [
            {"row": 3, "column": "value", "reason": report["invalid_rows"][0]["reason"]}
        ]
        assert "finite" in report["invalid_rows"][0]["reason"]
        assert [r["customer_id"] for r in report["results"] if r["matched"]] == ["pied-piper", "hooli"]
        assert await consume_all(stack.kafka, 0) == []  # a test run stores nothing
        assert await stack.runs(created["source_id"]) == []

        await stack.admin("POST", f"{source}/publish")
        first = await stack.wait_for_run(created["source_id"], lambda r: r["status"] == "succeeded")
        counts = [first[name] for name in ("rows_read", "rows_written", "rows_unmatched", "rows_invalid")]
        assert counts == [4, 2, 1, 1]
        assert first["watermark"] == "2026-11-25T11:58:20.000000Z"
        await wait_for_values(query_api, stack.api_key, {("pied-piper", DAY1): 10, ("hooli", DAY1): 5})
        metrics = await warehouse_metrics(stack)
        assert metrics[("quivly_warehouse_rows_total", "written")] >= 2
        assert metrics[("quivly_warehouse_rows_total", "unmatched")] >= 1
        assert metrics[("quivly_warehouse_rows_total", "invalid")] >= 1
        assert metrics[("quivly_warehouse_runs_total", "succeeded")] >= 1
        assert metrics[("quivly_warehouse_scheduler_leader", "")] == 1

        # A late correction (updated before the watermark, within the lookback) and a new row.
        warehouse.add(
            ("sf-1", "api_calls", 12, datetime(2026, 11, 20, 15, tzinfo=UTC), "", T - timedelta(seconds=130)),
            ("sf-2", "api_calls", 7, datetime(2026, 11, 21, 9, tzinfo=UTC), "", T),
        )  # fmt: skip
        corrected = await stack.wait_for_run(created["source_id"], lambda r: r["rows_read"] == 3)
        assert corrected["since"] == "2026-11-25T11:57:20.000000Z"  # watermark - 60 s lookback
        assert corrected["rows_written"] == 2 and corrected["watermark"] == "2026-11-25T12:00:00.000000Z"
        await wait_for_values(
            query_api, stack.api_key, {("pied-piper", DAY1): 12, ("hooli", DAY1): 5, ("hooli", DAY2): 7}
        )
        later = await stack.wait_for_run(
            created["source_id"], lambda r: r["since"] == "2026-11-25T11:59:00.000000Z"
        )
        assert later["rows_read"] == 1  # only what the lookback re-reads after the newest watermark
        assert max(run["rows_read"] for run in await stack.runs(created["source_id"])) == 4

        await stack.admin("POST", f"{source}/pause")
        views = [await stack.admin("GET", source), await stack.admin("GET", stack.sources())]
        assert views[0]["status"] == "paused"
        assert all(PASSWORD not in text for text in stack.seen or [])
    assert PASSWORD not in caplog.text
    assert PASSWORD not in plain_text_of_tables(stack.clickhouse)


async def test_syntax_error_and_unreachable_warehouse_fail_clearly_without_a_watermark(
    make_stack: Any, warehouse: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    warehouse.add(("sf-1", "api_calls", 10, datetime(2026, 11, 20, 9, tzinfo=UTC), "", T))
    async with make_stack() as stack:
        await stack.setup_org()
        broken = source_body(
            warehouse.connection(), "SELEC broken FROM usage WHERE x > {since:DateTime64(6, 'UTC')}"
        )
        bad = await stack.admin("POST", stack.sources(), broken, expect=201)
        failed = await stack.admin("POST", f"{stack.sources()}/{bad['source_id']}/test-run", expect=422)
        assert failed["code"] == "QUERY_FAILED" and "Syntax error" in failed["error"]

        down_url = f"http://127.0.0.1:{free_port()}"
        down = await stack.admin(
            "POST", stack.sources(), source_body(warehouse.connection(down_url)), expect=201
        )
        unreachable = await stack.admin("POST", f"{stack.sources()}/{down['source_id']}/test-run", expect=503)
        assert unreachable["code"] == "WAREHOUSE_UNAVAILABLE" and "unreachable" in unreachable["error"]

        for source in (bad, down):
            await stack.admin("POST", f"{stack.sources()}/{source['source_id']}/publish")
        bad_run = await stack.wait_for_run(bad["source_id"], lambda r: r["status"] == "failed")
        assert bad_run["attempts"] == 1 and "rejected the query" in bad_run["error"]
        down_run = await stack.wait_for_run(down["source_id"], lambda r: r["status"] == "failed")
        assert down_run["attempts"] == 2 and "unreachable" in down_run["error"]  # retried once
        assert (
            bad_run["watermark"] is None and down_run["watermark"] is None and down_run["rows_written"] == 0
        )

        # Fixed: the next run reads the whole window once and stores the row once.
        fixed = {"connection": {"url": warehouse.url}}
        await stack.admin("PATCH", f"{stack.sources()}/{down['source_id']}", fixed)
        good = await stack.wait_for_run(down["source_id"], lambda r: r["status"] == "succeeded")
        assert good["rows_written"] == 1 and good["watermark"] == "2026-11-25T12:00:00.000000Z"
        assert len(await consume_all(stack.kafka, 1)) >= 1
        assert all(PASSWORD not in text for text in stack.seen or [])
    assert PASSWORD not in caplog.text
    assert PASSWORD not in plain_text_of_tables(stack.clickhouse)


async def test_a_broker_failing_mid_run_stores_no_watermark_and_the_next_run_reads_it_all(
    make_stack: Any, warehouse: Warehouse
) -> None:
    warehouse.add(
        *(
            ("sf-1", "api_calls", i, datetime(2026, 11, 1 + i, tzinfo=UTC), "", T + timedelta(seconds=i))
            for i in range(5)
        )
    )
    async with make_stack(page_rows=2, run_attempts=1) as stack:
        await stack.setup_org()
        event_log = stack.app.state.event_log
        send = event_log.write_batches
        sent: list[int] = []

        async def second_page_fails(batches: Any) -> None:
            sent.append(len(sent))
            if len(sent) == 2:
                raise EventLogUnavailable("the broker went away", maybe_stored=False)
            await send(batches)

        event_log.write_batches = second_page_fails
        source = await stack.admin("POST", stack.sources(), source_body(warehouse.connection()), expect=201)
        await stack.admin("POST", f"{stack.sources()}/{source['source_id']}/publish")
        failed = await stack.wait_for_run(source["source_id"], lambda r: r["status"] == "failed")
        assert failed["watermark"] is None and "the broker went away" in failed["error"]
        assert len(sent) == 2  # the first page was produced, the second failed: the run stopped there
        assert failed["rows_written"] == 2  # what the failed attempt produced: the first page
        event_log.write_batches = send
        good = await stack.wait_for_run(source["source_id"], lambda r: r["status"] == "succeeded")
        assert good["rows_read"] == good["rows_written"] == 5
        assert good["watermark"] == "2026-11-25T12:00:04.000000Z"
