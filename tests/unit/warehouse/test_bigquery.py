"""BigQuery's query and parameter building, credentials and row conversion, with the official
client and no server. The whole source against ``bqemulator`` (the DuckDB-backed BigQuery REST
emulator): tests/integration/warehouse/test_bigquery_source.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
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


def test_a_service_account_key_signs_its_own_jwt_and_a_partial_key_is_refused() -> None:
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    key = {"private_key": pem.decode(), "client_email": "loader@acme.iam.gserviceaccount.com"}
    key["token_uri"] = "https://oauth2.example/token"
    client = make_client({"project": "acme"}, {"service_account_json": orjson.dumps(key).decode()})
    assert client._credentials._always_use_jwt_access is True  # no token exchange
    del key["token_uri"]
    with pytest.raises(WarehouseQueryFailed, match="not a key file") as refused:
        make_client({"project": "acme"}, {"service_account_json": orjson.dumps(key).decode()})
    assert "PRIVATE KEY" not in str(refused.value)


def test_rows_of_a_result_page_become_events() -> None:
    schema = {"external_customer_id": 0, "metric_key": 1, "value": 2, "updated_at": 3}
    row = bigquery.Row(("sf-1", "api_calls", 4.0, SINCE), schema)
    page = Page(list(schema), [tuple(row.values())])
    checked = check_page(Layout.of(page.columns, "updated_at"), page, 0)
    assert [e.value for e in checked.events] == [4.0] and checked.watermark == SINCE
