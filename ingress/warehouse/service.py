"""The admin operations on warehouse sources (create, get, update, test run, publish, pause, runs).

Blocking store calls run in worker threads; errors are ``core.errors.ApiError``.
"""

from __future__ import annotations

import asyncio
import secrets as random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.errors import ApiError
from ingress.warehouse import model
from ingress.warehouse.puller import Puller
from ingress.warehouse.readers import WarehouseQueryFailed, WarehouseUnavailable
from ingress.warehouse.rows import QueryShapeError
from ingress.warehouse.secrets import CredentialsUnreadable, EncryptionKeyMissing, SecretBox
from ingress.warehouse.settings import WarehouseSettings
from ingress.warehouse.store import RunRecord, WarehouseStore


def not_configured(exc: Exception) -> ApiError:
    return ApiError(409, "NOT_CONFIGURED", str(exc))


def run_view(run: RunRecord) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "status": run.status,
        "started_at": model.iso_z(run.started_at),
        "finished_at": model.iso_z(run.finished_at),
        "attempts": run.attempts,
        "rows_read": run.rows_read,
        "rows_written": run.rows_written,
        "rows_unmatched": run.rows_unmatched,
        "rows_invalid": run.rows_invalid,
        "since": model.iso_z(run.since, "microseconds"),
        "watermark": model.iso_z(run.watermark, "microseconds"),
        "error": run.error or None,
    }


class SourceService:
    def __init__(
        self,
        settings: WarehouseSettings,
        store: WarehouseStore,
        puller: Puller,
        box: Callable[[], SecretBox],
        require_org: Callable[[str], Any],
    ) -> None:
        self.settings = settings
        self.store = store
        self.puller = puller
        self._box = box
        self._require_org = require_org

    def _sealer(self) -> SecretBox:
        try:
            return self._box()
        except EncryptionKeyMissing as exc:
            raise not_configured(exc) from None

    def _view(self, source: model.Source) -> dict[str, Any]:
        try:
            names = sorted(self._box().open(source.secret_token))
        except (EncryptionKeyMissing, CredentialsUnreadable):
            names = []
        return model.source_view(source, names)

    def _require(self, org_id: str, source_id: str) -> model.Source:
        self._require_org(org_id)
        source = self.store.source(org_id, source_id)
        if source is None:
            raise model.not_found()
        return source

    @staticmethod
    def _version() -> int:
        return time.time_ns() // 1000

    # ------------------------------------------------------------------ blocking operations
    def create(self, org_id: str, body: Any) -> dict[str, Any]:
        given = model.validate_create(body, self.settings.min_interval_s)
        self._require_org(org_id)
        token = self._sealer().seal(given.secrets)
        source = model.Source(
            org_id, "src_" + random.token_hex(8), given.name, given.kind, model.STATUS_DRAFT,
            given.connection, token, given.query, given.interval_s, given.watermark_column,
            given.lookback_s, datetime.now(UTC),
        )  # fmt: skip
        self.store.save_source(source, self._version())
        return self._view(source)

    def list(self, org_id: str) -> dict[str, Any]:
        self._require_org(org_id)
        return {"sources": [self._view(source) for source in self.store.sources(org_id)]}

    def get(self, org_id: str, source_id: str) -> dict[str, Any]:
        return self._view(self._require(org_id, source_id))

    def update(self, org_id: str, source_id: str, body: Any) -> dict[str, Any]:
        current = self._require(org_id, source_id)
        given = model.validate_update(body, current, self.settings.min_interval_s)
        box = self._sealer()
        try:
            stored = box.open(current.secret_token)
        except CredentialsUnreadable:
            stored = {}
        updated = model.with_input(current, given, box.seal(model.merged_secrets(given, stored)))
        self.store.save_source(updated, self._version())
        return self._view(updated)

    def _set_status(self, org_id: str, source_id: str, status: str) -> dict[str, Any]:
        source = self._require(org_id, source_id)
        if source.status != status:
            published_at = datetime.now(UTC) if status == model.STATUS_PUBLISHED else source.published_at
            source = model.Source(**{**source.__dict__, "status": status, "published_at": published_at})
            self.store.save_source(source, self._version())
        return self._view(source)

    def publish(self, org_id: str, source_id: str) -> dict[str, Any]:
        """Scheduled runs start (the first at the next scheduler tick) and store their rows."""
        self._sealer()
        return self._set_status(org_id, source_id, model.STATUS_PUBLISHED)

    def pause(self, org_id: str, source_id: str) -> dict[str, Any]:
        return self._set_status(org_id, source_id, model.STATUS_PAUSED)

    def runs(self, org_id: str, source_id: str, limit: int = 50) -> dict[str, Any]:
        self._require(org_id, source_id)
        return {"runs": [run_view(run) for run in self.store.runs(org_id, source_id, limit)]}

    # ------------------------------------------------------------------ test run
    async def test_run(self, org_id: str, source_id: str) -> dict[str, Any]:
        source = await asyncio.to_thread(self._require, org_id, source_id)
        self._sealer()
        try:
            return await self.puller.test_run(source)
        except CredentialsUnreadable as exc:
            raise not_configured(exc) from None
        except WarehouseUnavailable as exc:
            raise ApiError(503, "WAREHOUSE_UNAVAILABLE", str(exc), headers={"Retry-After": "30"}) from None
        except (WarehouseQueryFailed, QueryShapeError) as exc:
            raise ApiError(422, "QUERY_FAILED", str(exc)) from None
