"""ClickHouse adapter of the control plane: every SQL statement lives here.

Every table is versioned (ReplacingMergeTree); reads take the highest version per key with
``argMax`` so they are correct before background merges. Inserts go one per table per call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core import names
from core.api_keys import CURRENT_KEY_HASHES_SQL
from core.clickhouse import SharedClient
from core.settings import ClickHouseSettings
from ingress.control.model import Owner

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client


class ControlStore:
    def __init__(self, settings: ClickHouseSettings) -> None:
        self._client = SharedClient(settings)  # shared by the refresh task and admin calls

    @property
    def client(self) -> Client:
        return self._client.get()

    def close(self) -> None:
        self._client.close()

    def _rows(self, sql: str, **parameters: Any) -> Sequence[Sequence[Any]]:
        return self.client.query(sql, parameters=parameters).result_rows

    def _insert(self, table: str, rows: list[list[Any]], columns: list[str]) -> None:
        if rows:
            self.client.insert(table, rows, column_names=columns)

    # ------------------------------------------------------------------ snapshot reads
    def current_key_hashes(self) -> Sequence[Sequence[Any]]:
        return self._rows(CURRENT_KEY_HASHES_SQL)

    def current_statuses(self) -> Sequence[Sequence[Any]]:
        return self._rows(
            f"SELECT org_id, argMax(status, version) FROM {names.PUSH_CONFIGURATIONS} GROUP BY org_id"
        )

    def all_external_ids(self) -> Sequence[Sequence[Any]]:
        """The current row of every (org, external_id): (org, ext, customer_id, is_deleted, version)."""
        return self._rows(
            "SELECT org_id, external_id, argMax(customer_id, version), argMax(is_deleted, version), "
            f"max(version) FROM {names.CUSTOMER_EXTERNAL_IDS} GROUP BY org_id, external_id"
        )

    def external_ids_since(self, version: int) -> Sequence[Sequence[Any]]:
        """Every row (not only the current ones) with a version above ``version``."""
        return self._rows(
            "SELECT org_id, external_id, customer_id, is_deleted, version "
            f"FROM {names.CUSTOMER_EXTERNAL_IDS} WHERE version > {{since:UInt64}}",
            since=version,
        )

    # ------------------------------------------------------------------ organizations and keys
    def insert_org(self, org_id: str, name: str, at: datetime, version: int) -> None:
        self._insert(
            names.ORGANIZATIONS, [[org_id, name, at, version]], ["org_id", "name", "created_at", "version"]
        )

    def org(self, org_id: str) -> tuple[str, str, datetime] | None:
        rows = self._rows(
            "SELECT org_id, argMax(name, version), min(created_at) "
            f"FROM {names.ORGANIZATIONS} WHERE org_id = {{org:String}} GROUP BY org_id",
            org=org_id,
        )
        return (rows[0][0], rows[0][1], rows[0][2]) if rows else None

    def orgs(self) -> Sequence[Sequence[Any]]:
        return self._rows(
            "SELECT org_id, argMax(name, version) AS name, min(created_at) AS created "
            f"FROM {names.ORGANIZATIONS} GROUP BY org_id ORDER BY created, org_id"
        )

    def insert_key(self, org_id: str, key_hash: str, key_prefix: str, at: datetime, version: int) -> None:
        self._insert(
            names.API_KEYS,
            [[org_id, key_hash, key_prefix, at, version]],
            ["org_id", "key_hash", "key_prefix", "created_at", "version"],
        )

    # ------------------------------------------------------------------ customers
    def current_external_ids(self, org_id: str) -> dict[str, Owner]:
        rows = self._rows(
            "SELECT external_id, argMax(customer_id, version), argMax(source, version), "
            f"argMax(is_deleted, version) AS deleted FROM {names.CUSTOMER_EXTERNAL_IDS} "
            "WHERE org_id = {org:String} GROUP BY external_id HAVING deleted = 0",
            org=org_id,
        )
        return {ext: Owner(customer_id, source) for ext, customer_id, source, _ in rows}

    def current_customers(self, org_id: str) -> Sequence[Sequence[Any]]:
        return self._rows(
            "SELECT customer_id, argMax(name, version), argMax(updated_at, version), "
            f"argMax(is_deleted, version) AS deleted FROM {names.CUSTOMERS} "
            "WHERE org_id = {org:String} GROUP BY customer_id HAVING deleted = 0",
            org=org_id,
        )

    def insert_customers(self, rows: list[list[Any]]) -> None:
        """Rows of (org_id, customer_id, name, updated_at, version, is_deleted)."""
        self._insert(
            names.CUSTOMERS, rows, ["org_id", "customer_id", "name", "updated_at", "version", "is_deleted"]
        )

    def insert_external_ids(self, rows: list[list[Any]]) -> None:
        """Rows of (org_id, external_id, source, customer_id, version, is_deleted)."""
        self._insert(
            names.CUSTOMER_EXTERNAL_IDS,
            rows,
            ["org_id", "external_id", "source", "customer_id", "version", "is_deleted"],
        )

    # ------------------------------------------------------------------ configuration
    def configuration(self, org_id: str) -> tuple[str, str, datetime, datetime | None] | None:
        rows = self._rows(
            "SELECT argMax(source, version), argMax(status, version), argMax(created_at, version), "
            f"argMax(published_at, version) FROM {names.PUSH_CONFIGURATIONS} "
            "WHERE org_id = {org:String} GROUP BY org_id",
            org=org_id,
        )
        return (rows[0][0], rows[0][1], rows[0][2], rows[0][3]) if rows else None

    def insert_configuration(
        self,
        org_id: str,
        source: str,
        status: str,
        created_at: datetime,
        published_at: datetime | None,
        version: int,
    ) -> None:
        self._insert(
            names.PUSH_CONFIGURATIONS,
            [[org_id, source, status, created_at, published_at, version]],
            ["org_id", "source", "status", "created_at", "published_at", "version"],
        )

    # ------------------------------------------------------------------ metrics
    def sightings(self, org_id: str, metric_key: str | None = None) -> Sequence[Sequence[Any]]:
        where = "org_id = {org:String}" + (" AND metric_key = {key:String}" if metric_key is not None else "")
        return self._rows(
            "SELECT metric_key, min(first_seen_at), max(last_seen_at) "
            f"FROM {names.METRIC_SIGHTINGS} WHERE {where} GROUP BY metric_key",
            org=org_id,
            key=metric_key or "",
        )

    def rollups(self, org_id: str) -> dict[str, str]:
        rows = self._rows(
            f"SELECT metric_key, argMax(rollup, version) FROM {names.METRIC_ROLLUPS} "
            "WHERE org_id = {org:String} GROUP BY metric_key",
            org=org_id,
        )
        return {key: rollup for key, rollup in rows}

    def insert_rollup(self, org_id: str, metric_key: str, rollup: str, version: int) -> None:
        self._insert(
            names.METRIC_ROLLUPS,
            [[org_id, metric_key, rollup, version]],
            ["org_id", "metric_key", "rollup", "version"],
        )

    def insert_sightings(self, rows: Iterable[tuple[str, str, datetime, datetime]]) -> None:
        self._insert(
            names.METRIC_SIGHTINGS,
            [list(row) for row in rows],
            ["org_id", "metric_key", "first_seen_at", "last_seen_at"],
        )
