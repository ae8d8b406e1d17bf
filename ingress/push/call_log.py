"""The push-call log: each authenticated push is buffered and written to ``push_calls`` in batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import astuple, dataclass, field, fields
from datetime import datetime
from typing import Any

from core.clickhouse import SharedClient
from core.names import PUSH_CALLS
from core.periods import format_utc
from core.settings import ClickHouseSettings
from ingress.settings import IngressSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PushCall:
    org_id: str
    received_at: datetime
    mode: str
    status_code: int
    error_code: str = ""
    total: int = 0
    matched: int = 0
    unmatched: int = 0
    inserted: int = 0
    unmatched_external_ids: list[str] = field(default_factory=list)
    idempotency_replayed: int = 0


_COLUMNS = [f.name for f in fields(PushCall)]


def call_as_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "received_at": format_utc(row["received_at"]),
        "mode": row["mode"],
        "status_code": int(row["status_code"]),
        "error_code": row["error_code"] or None,
        "summary": {"total": row["total"], "matched": row["matched"], "unmatched": row["unmatched"]},
        "inserted": row["inserted"],
        "unmatched_external_ids": list(row["unmatched_external_ids"]),
        "idempotency_replayed": bool(row["idempotency_replayed"]),
    }


class PushCallLog:
    """Never blocks a push: ``record`` appends to a bounded buffer; a task flushes it every second."""

    def __init__(self, clickhouse: ClickHouseSettings, settings: IngressSettings) -> None:
        self.clickhouse = clickhouse
        self.settings = settings
        self._buffer: list[PushCall] = []
        self._client = SharedClient(clickhouse)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.dropped = 0

    def record(self, call: PushCall) -> None:
        if len(self._buffer) >= self.settings.push_calls_max_buffer:
            self.dropped += 1
            return
        self._buffer.append(call)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name="push-call-log")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()
        self._client.close()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.push_calls_flush_interval_s)
            try:
                await self.flush()
            except Exception as exc:  # ClickHouse down: keep the rows for the next attempt
                log.warning("push-call log flush failed: %s", exc)

    async def flush(self) -> None:
        async with self._lock:
            if not self._buffer:
                return
            batch, self._buffer = self._buffer, []
            try:
                await asyncio.to_thread(self._insert, batch)
            except Exception:
                room = self.settings.push_calls_max_buffer - len(self._buffer)
                self._buffer[:0] = batch[: max(0, room)]
                raise

    def _insert(self, batch: list[PushCall]) -> None:
        rows = [list(astuple(call)) for call in batch]
        self._client.get().insert(PUSH_CALLS, rows, column_names=_COLUMNS)

    async def recent(self, org_id: str, limit: int) -> list[dict[str, Any]]:
        """The newest calls of the organization (this replica's pending ones flushed first)."""
        with contextlib.suppress(Exception):
            await self.flush()
        return await asyncio.to_thread(self._recent, org_id, limit)

    def _recent(self, org_id: str, limit: int) -> list[dict[str, Any]]:
        result = self._client.get().query(
            f"SELECT {', '.join(_COLUMNS)} FROM {PUSH_CALLS} WHERE org_id = {{org:String}} "
            "ORDER BY received_at DESC LIMIT {limit:UInt32}",
            parameters={"org": org_id, "limit": limit},
        )
        return [call_as_json(dict(zip(_COLUMNS, row, strict=True))) for row in result.result_rows]
