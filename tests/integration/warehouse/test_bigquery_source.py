"""BigQuery through the official client: what can run here without an emulator.

``bqemulator`` (the DuckDB-backed BigQuery REST emulator) cannot start offline: it loads DuckDB's
``spatial`` extension, which DuckDB downloads from its extension site on first use. The query and
parameter building and the row conversion are unit-tested (tests/unit/warehouse/test_bigquery.py);
here the real client meets a closed port.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infra.processes import free_port
from ingress.warehouse.bigquery_reader import BigQueryReader
from ingress.warehouse.readers import ReadOptions, WarehouseUnavailable

SINCE = datetime(2026, 11, 25, 11, 59, tzinfo=UTC)


def test_an_unreachable_endpoint_is_unavailable_within_the_connect_timeout() -> None:
    reader = BigQueryReader({"project": "acme", "api_endpoint": f"http://127.0.0.1:{free_port()}"}, {})
    options = ReadOptions(page_rows=10, max_rows=None, connect_timeout_s=1.0, query_timeout_s=5.0)
    with pytest.raises(WarehouseUnavailable, match="BigQuery is unreachable"):
        list(reader.pages("SELECT 1", SINCE, options))
    reader.close()
