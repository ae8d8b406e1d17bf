"""Stored idempotent responses in ClickHouse (table ``idempotency_responses``, migration 0010)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from core.clickhouse import SharedClient
from core.names import IDEMPOTENCY_RESPONSES
from core.settings import ClickHouseSettings
from ingress.push.idempotency import StoredResponse

_COLUMNS = ["org_id", "idempotency_key", "fingerprint", "status_code", "body", "created_at"]


class ClickHouseResponseStore:
    """The first stored response of a key wins (oldest ``created_at``); rows expire by TTL."""

    def __init__(self, settings: ClickHouseSettings) -> None:
        # Shared by concurrent lookups: sessions are off (see core/clickhouse.py).
        self._client = SharedClient(settings)

    async def get(self, org_id: str, key: str, not_before: datetime) -> StoredResponse | None:
        return await asyncio.to_thread(self._get, org_id, key, not_before)

    async def put(self, org_id: str, key: str, response: StoredResponse) -> None:
        await asyncio.to_thread(self._put, org_id, key, response)

    def close(self) -> None:
        self._client.close()

    def _get(self, org_id: str, key: str, not_before: datetime) -> StoredResponse | None:
        rows = (
            self._client.get()
            .query(
                f"SELECT fingerprint, status_code, body, created_at FROM {IDEMPOTENCY_RESPONSES} "
                "WHERE org_id = {org:String} AND idempotency_key = {key:String} "
                "AND created_at >= {not_before:DateTime64(3, 'UTC')} ORDER BY created_at LIMIT 1",
                parameters={"org": org_id, "key": key, "not_before": not_before},
                column_formats={"body": "bytes"},
            )
            .result_rows
        )
        if not rows:
            return None
        fingerprint, status_code, body, created_at = rows[0]
        if isinstance(body, str):
            body = body.encode("utf-8")
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
        return StoredResponse(fingerprint, int(status_code), body, created_at)

    def _put(self, org_id: str, key: str, response: StoredResponse) -> None:
        self._client.get().insert(
            IDEMPOTENCY_RESPONSES,
            [[org_id, key, response.fingerprint, response.status_code, response.body, response.created_at]],
            column_names=_COLUMNS,
        )
