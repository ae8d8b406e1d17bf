"""A Snowflake warehouse source end to end: the real Snowflake connector against fakesnow's local
server (its emulation of Snowflake's HTTP API, DuckDB underneath)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import fakesnow
import pytest
import snowflake.connector
from fastapi.testclient import TestClient

from infra.processes import free_port
from tests.integration.streams.helpers import WorkerProcess
from tests.integration.warehouse.conftest import (
    PASSWORD,
    plain_text_of_tables,
    wait_for_values,
    warehouse_source_body,
)

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

T = datetime(2026, 11, 25, 12, 0)  # TIMESTAMP_NTZ values are UTC wall times
DAY1, DAY2 = "2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z"
QUERY = (
    "SELECT customer AS external_customer_id, metric AS metric_key, amount AS value, ts AS timestamp, "
    "props AS properties, updated_at FROM usage WHERE updated_at > %(since)s ORDER BY updated_at"
)


class Snowflake:
    def __init__(self, server: dict[str, Any]) -> None:
        self.server = server
        self.conn = snowflake.connector.connect(**server)
        self.cursor = self.conn.cursor()
        self.cursor.execute("CREATE DATABASE IF NOT EXISTS QUIVLY_TEST")
        self.cursor.execute("CREATE SCHEMA IF NOT EXISTS QUIVLY_TEST.ANALYTICS")
        self.cursor.execute("USE SCHEMA QUIVLY_TEST.ANALYTICS")
        self.cursor.execute("DROP TABLE IF EXISTS usage")
        self.cursor.execute(
            "CREATE TABLE usage (customer VARCHAR, metric VARCHAR, amount NUMBER(18, 4), "
            "ts TIMESTAMP_NTZ, props VARIANT, updated_at TIMESTAMP_NTZ)"
        )

    def add(self, *rows: tuple[str, str, float, datetime, str | None, datetime]) -> None:
        for customer, metric, amount, ts, props, updated in rows:
            self.cursor.execute(
                "INSERT INTO usage SELECT %s, %s, %s, %s, PARSE_JSON(%s), %s",
                (customer, metric, amount, ts, props, updated),
            )

    def connection(self, port: int | None = None) -> dict[str, Any]:
        return {
            "account": "fakesnow",
            "user": "loader",
            "password": PASSWORD,
            "database": "QUIVLY_TEST",
            "schema": "ANALYTICS",
            "host": "127.0.0.1",
            "port": port or self.server["port"],
            "protocol": "http",
        }


@pytest.fixture
def warehouse() -> Iterator[Snowflake]:
    with fakesnow.server() as server:
        found = Snowflake(server)
        yield found
        found.conn.close()


def source_body(connection: dict[str, Any], query: str = QUERY) -> dict[str, Any]:
    return warehouse_source_body("snowflake", connection, query)


async def test_test_run_then_scheduled_runs_store_replace_and_stay_incremental(
    make_stack: Any,
    warehouse: Snowflake,
    streams_worker: WorkerProcess,
    query_api: TestClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    at = datetime(2026, 11, 20, 9)
    warehouse.add(
        ("sf-1", "api_calls", 10, at, '{"plan": "pro"}', T - timedelta(hours=1)),
        ("sf-2", "api_calls", 5.5, at, None, T - timedelta(minutes=30)),
        ("unknown-9", "api_calls", 1, at, None, T - timedelta(minutes=30)),
        ("sf-2", "", 3, at, None, T - timedelta(seconds=100)),
    )
    async with make_stack() as stack:
        await stack.setup_org()
        created = await stack.admin("POST", stack.sources(), source_body(warehouse.connection()), expect=201)
        source = f"{stack.sources()}/{created['source_id']}"
        assert created["connection"]["password"] == "********"

        report = await stack.admin("POST", f"{source}/test-run")
        assert report["stored"] is False
        assert report["summary"] == {"total": 4, "matched": 2, "unmatched": 1, "invalid": 1}
        assert report["unmatched_external_ids"] == ["unknown-9"]
        assert [(i["row"], i["column"]) for i in report["invalid_rows"]] == [(3, "metric_key")]
        assert await stack.runs(created["source_id"]) == []

        await stack.admin("POST", f"{source}/publish")
        first = await stack.wait_for_run(created["source_id"], lambda r: r["status"] == "succeeded")
        assert (first["rows_read"], first["rows_written"]) == (4, 2)
        assert first["watermark"] == "2026-11-25T11:58:20.000000Z"
        await wait_for_values(query_api, stack.api_key, {("pied-piper", DAY1): 10, ("hooli", DAY1): 5.5})

        warehouse.add(
            ("sf-1", "api_calls", 12, datetime(2026, 11, 20, 15), None, T - timedelta(seconds=130)),
            ("sf-2", "api_calls", 7, datetime(2026, 11, 21, 9), None, T),
        )
        corrected = await stack.wait_for_run(created["source_id"], lambda r: r["rows_read"] == 3)
        assert corrected["since"] == "2026-11-25T11:57:20.000000Z" and corrected["rows_written"] == 2
        await wait_for_values(
            query_api, stack.api_key, {("pied-piper", DAY1): 12, ("hooli", DAY1): 5.5, ("hooli", DAY2): 7}
        )
        later = await stack.wait_for_run(
            created["source_id"], lambda r: r["since"] == "2026-11-25T11:59:00.000000Z"
        )
        assert later["rows_read"] == 1

        broken = {"query": "SELEC nothing FROM usage WHERE updated_at > %(since)s"}
        await stack.admin("PATCH", source, broken)
        failed = await stack.admin("POST", f"{source}/test-run", expect=422)
        assert failed["code"] == "QUERY_FAILED" and "001003" in failed["error"]  # SQL compilation error
        bad_run = await stack.wait_for_run(created["source_id"], lambda r: r["status"] == "failed")
        assert bad_run["attempts"] == 1 and bad_run["watermark"] == "2026-11-25T12:00:00.000000Z"

        down = {"connection": {"port": free_port()}, "query": QUERY}
        await stack.admin("PATCH", source, down)
        unreachable = await stack.admin("POST", f"{source}/test-run", expect=503)
        assert unreachable["code"] == "WAREHOUSE_UNAVAILABLE"
        down_run = await stack.wait_for_run(
            created["source_id"], lambda r: "unreachable" in (r["error"] or "")
        )
        assert down_run["attempts"] == 2 and down_run["rows_written"] == 0
        await stack.admin("POST", f"{source}/pause")
        assert all(PASSWORD not in text for text in stack.seen or [])
    assert PASSWORD not in caplog.text
    assert PASSWORD not in plain_text_of_tables(stack.clickhouse)
