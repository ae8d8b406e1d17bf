"""BigQuery's query and parameter building, and its errors, with the official client.

No BigQuery emulator runs here: ``bqemulator`` (DuckDB-backed REST) needs DuckDB's ``spatial``
extension, which it downloads from the DuckDB extension site at start-up (not reachable offline).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.cloud import bigquery

from ingress.warehouse.bigquery_reader import job_config, make_client
from ingress.warehouse.readers import WarehouseQueryFailed
from ingress.warehouse.rows import Layout, Page, check_page

SINCE = datetime(2026, 11, 25, 11, 59, tzinfo=UTC)


def test_the_watermark_is_a_named_timestamp_parameter() -> None:
    config = job_config("SELECT * FROM ds.usage WHERE updated_at > @since", SINCE)
    request = config.to_api_repr()["query"]
    assert request["useLegacySql"] is False
    assert request["queryParameters"] == [
        {
            "name": "since",
            "parameterType": {"type": "TIMESTAMP"},
            "parameterValue": {"value": "2026-11-25 11:59:00+00:00"},
        }
    ]
    assert job_config("SELECT 1", SINCE).to_api_repr()["query"]["queryParameters"] == []


def test_an_emulator_endpoint_without_a_key_uses_anonymous_credentials() -> None:
    client = make_client({"project": "acme", "api_endpoint": "http://127.0.0.1:9050"}, {})
    assert client.project == "acme" and client._connection.API_BASE_URL == "http://127.0.0.1:9050"
    with pytest.raises(WarehouseQueryFailed, match="not valid JSON"):
        make_client({"project": "acme"}, {"service_account_json": "{not json"})


def test_rows_of_a_result_page_become_events() -> None:
    schema = {"external_customer_id": 0, "metric_key": 1, "value": 2, "updated_at": 3}
    row = bigquery.Row(("sf-1", "api_calls", 4.0, SINCE), schema)
    page = Page(list(schema), [tuple(row.values())])
    checked = check_page(Layout.of(page.columns, "updated_at"), page, 0)
    assert [e.value for e in checked.events] == [4.0] and checked.watermark == SINCE
