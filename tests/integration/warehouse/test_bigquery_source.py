"""A BigQuery warehouse source end to end: the official google-cloud-bigquery client against
``bqemulator`` (the DuckDB-backed BigQuery REST emulator), which runs from its own venv
(``.venv-bq``, made by scripts/install-bqemulator.sh) on a free port, once for the module."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from fastapi.testclient import TestClient
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from infra.processes import REPO_ROOT, free_port, start_process, stop_process, wait_for_port
from ingress.warehouse.bigquery_reader import BigQueryReader
from ingress.warehouse.readers import ReadOptions, WarehouseUnavailable
from tests.integration.ingress.conftest import consume_all
from tests.integration.streams.helpers import WorkerProcess
from tests.integration.warehouse.conftest import plain_text_of_tables, wait_for_values, warehouse_source_body

EMULATOR_VENV = REPO_ROOT / ".venv-bq"
PROJECT = "acme-analytics"
T = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # "now" of the warehouse's updated_at column
DAY1, DAY2 = "2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z"
QUERY = (
    "SELECT customer AS external_customer_id, metric AS metric_key, amount AS value, ts AS timestamp, "
    "props AS properties, updated_at FROM {dataset}.usage WHERE updated_at > @since ORDER BY updated_at"
)


@pytest.fixture(scope="module")
def bigquery_endpoint(artifacts_dir: Path) -> Iterator[str]:
    """bqemulator's REST endpoint; its DuckDB finds the spatial extension in the venv's home."""
    if not (EMULATOR_VENV / ".quivly-installed").exists():
        message = "bqemulator's venv (.venv-bq) is missing: run bash scripts/install-bqemulator.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    command = [str(EMULATOR_VENV / "bin" / "bqemulator"), "start", "--rest-port", str(port)]
    command += ["--grpc-port", "0"]
    env = {"HOME": str(EMULATOR_VENV / "duckdb-home"), "BQEMU_ENABLE_FORMAT_EXTENSIONS": "false"}
    process = start_process(command, artifacts_dir / "warehouse" / f"bqemulator-{port}.log", env)
    try:
        wait_for_port(port, 60, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)
    assert process.returncode == 0, f"bqemulator exited with {process.returncode}"


class BigQuery:
    """A dataset of the emulator playing the customer's warehouse."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.dataset = f"wh_{uuid.uuid4().hex[:10]}"
        self.client = bigquery.Client(
            project=PROJECT,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=endpoint),
        )
        self.client.create_dataset(self.dataset)
        schema = [
            bigquery.SchemaField("customer", "STRING"),
            bigquery.SchemaField("metric", "STRING"),
            bigquery.SchemaField("amount", "NUMERIC"),
            bigquery.SchemaField("ts", "TIMESTAMP"),
            bigquery.SchemaField("props", "JSON"),
            bigquery.SchemaField("updated_at", "TIMESTAMP"),
        ]
        self.client.create_table(bigquery.Table(f"{PROJECT}.{self.dataset}.usage", schema=schema))

    def add(self, *rows: tuple[str, str, str, datetime, str | None, datetime]) -> None:
        columns = ("customer", "metric", "amount", "ts", "props", "updated_at")
        json_rows = [dict(zip(columns, [_json(value) for value in row], strict=True)) for row in rows]
        assert self.client.insert_rows_json(f"{PROJECT}.{self.dataset}.usage", json_rows) == []

    def query(self, text: str = QUERY) -> str:
        return text.format(dataset=self.dataset)

    def drop(self) -> None:
        self.client.delete_dataset(self.dataset, delete_contents=True)
        self.client.close()


def _json(value: str | datetime | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


@pytest.fixture
def warehouse(bigquery_endpoint: str) -> Iterator[BigQuery]:
    found = BigQuery(bigquery_endpoint)
    yield found
    found.drop()


class ServiceAccountKey:
    """A real service-account key file (a fresh RSA key). Its token_uri is a closed port: the
    reader signs its own JWTs, so a token exchange would fail the runs."""

    def __init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
        self.secret_lines = pem.splitlines()[1:-1]  # what must never show in plain text
        self.json = orjson.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": uuid.uuid4().hex,
                "private_key": pem,
                "client_email": f"loader@{PROJECT}.iam.gserviceaccount.com",
                "token_uri": f"http://127.0.0.1:{free_port()}/token",
            }
        ).decode()

    def shown_in(self, text: str) -> bool:
        return any(line in text for line in self.secret_lines)


def source_body(warehouse: BigQuery, key: ServiceAccountKey, query: str) -> dict[str, Any]:
    connection = {"project": PROJECT, "api_endpoint": warehouse.endpoint, "service_account_json": key.json}
    return warehouse_source_body("bigquery", connection, query)


def usage_by_customer(api: TestClient, key: str) -> dict[str, float]:
    body = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "metric_keys": ["api_calls"]}
    response = api.post("/v1/usage/query", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return {s["customer_id"]: s["windows"][0]["value"] for s in response.json()["series"]}


def fetch_event(api: TestClient, key: str, customer_id: str, period_start: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    found = api.post("/v1/events/search", json={"customer_id": customer_id, "limit": 100}, headers=headers)
    assert found.status_code == 200, found.text
    [event_id] = [e["event_id"] for e in found.json()["events"] if e["period_start"] == period_start]
    response = api.get(f"/v1/events/{event_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.kafka
@pytest.mark.clickhouse
async def test_test_run_then_scheduled_runs_store_replace_stay_incremental_and_fail_clearly(
    make_stack: Any,
    warehouse: BigQuery,
    streams_worker: WorkerProcess,
    query_api: TestClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = ServiceAccountKey()
    at = datetime(2026, 11, 20, 9, tzinfo=UTC)
    warehouse.add(
        ("sf-1", "api_calls", "10", at, '{"plan": "pro"}', T - timedelta(hours=1)),
        ("sf-2", "api_calls", "5.5", at, None, T - timedelta(minutes=30)),
        ("unknown-9", "api_calls", "1", at, None, T - timedelta(minutes=30)),
        ("sf-2", "", "3", at, None, T - timedelta(seconds=100)),
    )
    async with make_stack() as stack:
        await stack.setup_org()
        body = source_body(warehouse, key, warehouse.query())
        created = await stack.admin("POST", stack.sources(), body, expect=201)
        source = f"{stack.sources()}/{created['source_id']}"
        assert created["connection"]["service_account_json"] == "********"

        report = await stack.admin("POST", f"{source}/test-run")
        assert report["stored"] is False and report["mode"] == "test"
        assert report["summary"] == {"total": 4, "matched": 2, "unmatched": 1, "invalid": 1}
        assert report["unmatched_external_ids"] == ["unknown-9"]
        assert [(i["row"], i["column"]) for i in report["invalid_rows"]] == [(3, "metric_key")]
        assert await consume_all(stack.kafka, 0) == []  # a test run stores nothing
        assert await stack.runs(created["source_id"]) == []

        await stack.admin("POST", f"{source}/publish")
        first = await stack.wait_for_run(created["source_id"], lambda r: r["status"] == "succeeded")
        counts = [first[name] for name in ("rows_read", "rows_written", "rows_unmatched", "rows_invalid")]
        assert counts == [4, 2, 1, 1]
        assert first["watermark"] == "2026-11-25T11:58:20.000000Z"
        await wait_for_values(query_api, stack.api_key, {("pied-piper", DAY1): 10, ("hooli", DAY1): 5.5})
        fetched = fetch_event(query_api, stack.api_key, "pied-piper", DAY1)
        assert fetched["value"] == 10 and fetched["external_customer_id"] == "sf-1"
        assert fetched["event_properties"] == {"plan": "pro"}  # the JSON column, as an object

        # A late correction (updated before the watermark, within the lookback) and a new row.
        afternoon, next_day = datetime(2026, 11, 20, 15, tzinfo=UTC), datetime(2026, 11, 21, 9, tzinfo=UTC)
        warehouse.add(
            ("sf-1", "api_calls", "12", afternoon, None, T - timedelta(seconds=130)),
            ("sf-2", "api_calls", "7", next_day, None, T),
        )
        corrected = await stack.wait_for_run(created["source_id"], lambda r: r["rows_read"] == 3)
        assert corrected["since"] == "2026-11-25T11:57:20.000000Z"  # watermark - 60 s lookback
        assert corrected["rows_written"] == 2 and corrected["watermark"] == "2026-11-25T12:00:00.000000Z"
        await wait_for_values(
            query_api, stack.api_key, {("pied-piper", DAY1): 12, ("hooli", DAY1): 5.5, ("hooli", DAY2): 7}
        )
        assert usage_by_customer(query_api, stack.api_key) == {"pied-piper": 12, "hooli": 12.5}
        later = await stack.wait_for_run(
            created["source_id"], lambda r: r["since"] == "2026-11-25T11:59:00.000000Z"
        )
        assert later["rows_read"] == 1  # only what the lookback re-reads after the newest watermark
        await stack.admin("POST", f"{source}/pause")

        broken_query = warehouse.query("SELEC broken FROM {dataset}.usage WHERE updated_at > @since")
        broken = source_body(warehouse, key, broken_query)
        bad = await stack.admin("POST", stack.sources(), broken, expect=201)
        bad_source = f"{stack.sources()}/{bad['source_id']}"
        failed = await stack.admin("POST", f"{bad_source}/test-run", expect=422)
        assert failed["code"] == "QUERY_FAILED" and "Syntax error" in failed["error"]
        await stack.admin("POST", f"{bad_source}/publish")
        bad_run = await stack.wait_for_run(bad["source_id"], lambda r: r["status"] == "failed")
        assert bad_run["attempts"] == 1 and "rejected the query" in bad_run["error"]
        assert bad_run["watermark"] is None and bad_run["rows_written"] == 0
        await stack.admin("POST", f"{bad_source}/pause")
        views = [await stack.admin("GET", source), await stack.admin("GET", stack.sources())]
        assert views[0]["connection"]["service_account_json"] == "********"
        assert not any(key.shown_in(text) for text in stack.seen or [])
    assert not key.shown_in(caplog.text)
    assert not key.shown_in(plain_text_of_tables(stack.clickhouse))


def test_an_unreachable_endpoint_is_unavailable_within_the_connect_timeout() -> None:
    reader = BigQueryReader({"project": "acme", "api_endpoint": f"http://127.0.0.1:{free_port()}"}, {})
    options = ReadOptions(page_rows=10, max_rows=None, connect_timeout_s=1.0, query_timeout_s=5.0)
    with pytest.raises(WarehouseUnavailable, match="BigQuery is unreachable"):
        list(reader.pages("SELECT 1", T, options))
    reader.close()
