"""Fixtures for the query service against the real ClickHouse: rows are inserted directly."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.api_keys import generate_api_key, hash_api_key
from core.clickhouse import make_client
from core.names import (
    API_KEYS,
    CUSTOMER_EXTERNAL_IDS,
    USAGE_EVENT_COLUMNS,
    USAGE_EVENT_LOCATOR,
    USAGE_EVENTS,
    USAGE_EVENTS_BY_CUSTOMER,
    USAGE_EVENTS_BY_PERIOD,
)
from core.periods import Granularity, format_utc, period_start
from core.records import ReplaceKey, canonical_properties
from core.settings import ClickHouseSettings
from query.main import create_app
from query.settings import QuerySettings

USAGE_COLUMNS = list(USAGE_EVENT_COLUMNS)


@dataclass
class Seeder:
    """Writes control-plane and usage rows straight into ClickHouse, one insert (one part) per call."""

    client: Any
    versions: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def api_key(self, org_id: str, key: str | None = None) -> str:
        key = key or generate_api_key()
        row = [org_id, hash_api_key(key), key[:8], datetime.now(UTC), next(self.versions)]
        self.client.insert(
            API_KEYS, [row], column_names=["org_id", "key_hash", "key_prefix", "created_at", "version"]
        )
        return key

    def external_id(self, org_id: str, external_id: str, customer_id: str, deleted: bool = False) -> None:
        row = [org_id, external_id, "salesforce", customer_id, next(self.versions), int(deleted)]
        columns = ["org_id", "external_id", "source", "customer_id", "version", "is_deleted"]
        self.client.insert(CUSTOMER_EXTERNAL_IDS, [row], column_names=columns)

    def event(
        self,
        org_id: str,
        customer_id: str,
        metric_key: str,
        created_at: datetime,
        value: float = 1.0,
        *,
        granularity: Granularity = Granularity.DAILY,
        external_id: str | None = None,
        event_type: str = "credit",
        properties: dict[str, Any] | None = None,
        period: datetime | None = None,
    ) -> str:
        """Inserts one version of the value of this key; returns its event_id."""
        start = period or period_start(created_at, granularity)
        key = ReplaceKey(org_id, customer_id, metric_key, granularity.value, format_utc(start))
        version = next(self.versions)
        row = [
            org_id,
            customer_id,
            metric_key,
            granularity.value,
            start,
            key.event_id(),
            external_id or f"ext-{customer_id}",
            event_type,
            value,
            created_at,
            canonical_properties(properties),
            datetime.now(UTC),
            version,
            0,
            version,
        ]
        self.client.insert(USAGE_EVENTS, [row], column_names=USAGE_COLUMNS)
        return key.event_id()

    def optimize(self, table: str = USAGE_EVENTS) -> None:
        """Merges every partition of ``table`` (renames all its parts)."""
        self.client.command(f"SYSTEM START MERGES {table}")
        self.client.command(f"OPTIMIZE TABLE {table} FINAL")

    def parts(self, table: str = USAGE_EVENTS) -> int:
        return int(
            self.client.command(
                "SELECT count() FROM system.parts WHERE database = currentDatabase() "
                f"AND table = '{table}' AND active"
            )
        )


@pytest.fixture
def seeder(clickhouse_settings: ClickHouseSettings) -> Seeder:
    client = make_client(clickhouse_settings)
    for table in (USAGE_EVENTS, USAGE_EVENTS_BY_CUSTOMER, USAGE_EVENTS_BY_PERIOD, USAGE_EVENT_LOCATOR):
        client.command(f"SYSTEM STOP MERGES {table}")  # prove reads are right before merges
    return Seeder(client)


# How whole-organization searches count (``query.count_cache``): from partition profiles (the
# default), per search only, or profiles with partitions of more than one key counted per search.
COUNTING_MODES = {
    "profiles": {},
    "per_search": {"profile_cache_max_keys": 0},
    "diverse": {"profile_max_keys_per_partition": 1},
}


@pytest.fixture
def api(request: pytest.FixtureRequest, clickhouse_settings: ClickHouseSettings) -> Iterator[TestClient]:
    """The query app; ``@pytest.mark.parametrize("api", [...], indirect=True)`` picks a counting mode."""
    mode = getattr(request, "param", "profiles")
    app = create_app(QuerySettings(auth_cache_ttl_s=0.5, **COUNTING_MODES[mode]), clickhouse_settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
