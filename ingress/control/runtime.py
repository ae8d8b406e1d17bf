"""The control plane as one object per ingress process: snapshot, background refresh, discovery.

* ``start()`` loads the whole snapshot from ClickHouse, then a background task refreshes it every
  ``poll_interval_s``: API key hashes and configuration statuses are re-read whole (one row per
  organization), external IDs incrementally by version (re-reading a ``lookback_s`` window so rows
  inserted late by another replica are not missed; applying a row only when newer makes the
  overlap harmless), and the whole snapshot is rebuilt every ``full_reload_interval_s``.
* The push path reads ``directory`` (dict look-ups, never I/O) and reports metric keys to
  ``discovery``, which buffers them and flushes them to ``metric_sightings`` in the background.
* Admin writes (``service``) refresh this replica's snapshot right away; other replicas see them
  at their next poll (within ``poll_interval_s`` plus the query time: well under 5 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from core.api_keys import hash_api_key
from core.settings import AdminSettings, ClickHouseSettings
from ingress.control import model
from ingress.control.service import ControlService, FreshKeys
from ingress.control.settings import ControlPlaneSettings
from ingress.control.store import ControlStore

__all__ = ["BufferedDiscovery", "ControlPlane", "ControlPlaneSettings", "SnapshotDirectory"]

log = logging.getLogger(__name__)


class SnapshotDirectory:
    """``ingress.directory.Directory`` over the in-memory snapshot."""

    def __init__(self, plane: ControlPlane) -> None:
        self._plane = plane

    def org_for_api_key(self, api_key: str) -> str | None:
        if not api_key:
            return None
        key_hash = hash_api_key(api_key)
        index = self._plane.snapshot.org_by_key_hash
        # Look-up by SHA-256 of the presented key: timing reveals nothing about stored keys.
        return index.get(key_hash)

    def is_published(self, org_id: str) -> bool:
        return org_id in self._plane.snapshot.published

    def customer_for_external_id(self, org_id: str, external_id: str) -> str | None:
        return self._plane.snapshot.customer_for(org_id, external_id)


class BufferedDiscovery:
    """``ingress.directory.MetricDiscovery``: an in-memory buffer flushed in the background."""

    def __init__(self, store: ControlStore, max_pending: int = 100_000) -> None:
        self._store = store
        self._pending: dict[tuple[str, str], tuple[datetime, datetime]] = {}
        self._lock = threading.Lock()
        self._max_pending = max_pending

    def saw(self, org_id: str, metric_keys: Iterable[str], at: datetime) -> None:
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        with self._lock:
            for key in metric_keys:
                self._merge((org_id, key), at, at)

    def _merge(self, slot: tuple[str, str], first: datetime, last: datetime) -> None:
        seen = self._pending.get(slot)
        if seen is None:
            if len(self._pending) < self._max_pending:
                self._pending[slot] = (first, last)
        else:
            self._pending[slot] = (min(seen[0], first), max(seen[1], last))

    def flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            self._store.insert_sightings(
                (org, key, first, last) for (org, key), (first, last) in pending.items()
            )
        except Exception:
            with self._lock:
                for slot, (first, last) in pending.items():
                    self._merge(slot, first, last)
            raise
        return len(pending)


class ControlPlane:
    def __init__(
        self,
        clickhouse: ClickHouseSettings,
        settings: ControlPlaneSettings,
    ) -> None:
        self.clickhouse = clickhouse
        self.settings = settings
        self.snapshot = model.Snapshot()
        self._poll_store = ControlStore(clickhouse)
        self._admin_store = ControlStore(clickhouse)
        self._discovery_store = ControlStore(clickhouse)
        self._refresh_lock = threading.Lock()
        self._last_full_reload = 0.0
        self._directory = SnapshotDirectory(self)
        self._discovery = BufferedDiscovery(self._discovery_store)
        self._fresh_keys = FreshKeys(settings.fresh_key_ttl_s)
        self._clock = model.VersionClock()
        self._services: dict[str, ControlService] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Loads the whole snapshot (raises if ClickHouse is down), then refreshes it in the background."""
        await asyncio.to_thread(self.reload)
        self._tasks = [
            asyncio.create_task(
                self._every(self.settings.poll_interval_s, self.refresh), name="control-refresh"
            ),
            asyncio.create_task(
                self._every(self.settings.discovery_flush_interval_s, self._discovery.flush),
                name="control-discovery",
            ),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        try:
            await asyncio.to_thread(self._discovery.flush)
        except Exception:
            log.exception("could not flush metric sightings on stop")
        for store in (self._poll_store, self._admin_store, self._discovery_store):
            store.close()

    async def _every(self, interval_s: float, action: object) -> None:
        assert callable(action)
        while True:
            await asyncio.sleep(interval_s)
            try:
                await asyncio.to_thread(action)
            except Exception:
                log.warning("control plane background step failed; will retry", exc_info=True)

    # ------------------------------------------------------------------ snapshot
    def reload(self) -> None:
        """Rebuilds the whole snapshot from ClickHouse and swaps it in."""
        with self._refresh_lock:
            fresh = model.Snapshot(
                org_by_key_hash=model.key_index((r[0], r[1]) for r in self._poll_store.current_key_hashes()),
                published=model.published_orgs((r[0], r[1]) for r in self._poll_store.current_statuses()),
            )
            model.apply_external_id_rows(fresh, (tuple(r) for r in self._poll_store.all_external_ids()))
            self.snapshot = fresh
            self._last_full_reload = time.monotonic()

    def refresh(self) -> None:
        """Brings the snapshot up to date (incrementally, or whole when a full reload is due)."""
        if time.monotonic() - self._last_full_reload >= self.settings.full_reload_interval_s:
            self.reload()
            return
        with self._refresh_lock:
            snapshot = self.snapshot
            keys = model.key_index((r[0], r[1]) for r in self._poll_store.current_key_hashes())
            published = model.published_orgs((r[0], r[1]) for r in self._poll_store.current_statuses())
            since = max(0, snapshot.max_external_version - int(self.settings.lookback_s * 1_000_000))
            rows = self._poll_store.external_ids_since(since)
            model.apply_external_id_rows(snapshot, (tuple(r) for r in rows))
            snapshot.org_by_key_hash = keys
            snapshot.published = published

    # ------------------------------------------------------------------ interfaces
    @property
    def loaded(self) -> bool:
        """A whole snapshot was loaded from ClickHouse at least once (readiness)."""
        return self._last_full_reload > 0

    @property
    def directory(self) -> SnapshotDirectory:
        return self._directory

    @property
    def discovery(self) -> BufferedDiscovery:
        return self._discovery

    def service(self, admin: AdminSettings) -> ControlService:
        """The admin operations (writes refresh this replica's snapshot right away)."""
        key = admin.model_dump_json()
        if key not in self._services:
            self._services[key] = ControlService(
                self._admin_store, admin, self._fresh_keys, self._clock, on_change=self.refresh
            )
        return self._services[key]
