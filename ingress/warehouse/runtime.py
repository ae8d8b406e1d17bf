"""The warehouse sources of one ingress process: store, puller, admin service and scheduler."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from core.settings import ClickHouseSettings
from ingress.directory import Directory, MetricDiscovery
from ingress.warehouse.puller import EventLog, Puller, ReaderFactory
from ingress.warehouse.readers import open_reader
from ingress.warehouse.scheduler import Scheduler, scheduler_id
from ingress.warehouse.secrets import EncryptionKeyMissing, SecretBox
from ingress.warehouse.service import SourceService
from ingress.warehouse.settings import WarehouseSettings
from ingress.warehouse.store import WarehouseStore

log = logging.getLogger(__name__)


class WarehouseRuntime:
    def __init__(
        self,
        settings: WarehouseSettings,
        clickhouse: ClickHouseSettings,
        directory: Callable[[], Directory],
        discovery: Callable[[], MetricDiscovery],
        event_log: EventLog,
        require_org: Callable[[str], Any],
        reader_factory: ReaderFactory = open_reader,
        holder: str | None = None,
    ) -> None:
        self.settings = settings
        self.store = WarehouseStore(clickhouse)
        self._box: SecretBox | None = None
        self.puller = Puller(settings, self.store, self.box, directory, discovery, event_log, reader_factory)
        self.service = SourceService(settings, self.store, self.puller, self.box, require_org)
        self.scheduler = Scheduler(settings, self.store, self.puller, holder or scheduler_id())

    def box(self) -> SecretBox:
        """The credentials cipher; raises ``EncryptionKeyMissing`` without a (valid) key."""
        if self._box is None:
            self._box = SecretBox(self.settings.encryption_key.get_secret_value())
        return self._box

    async def start(self) -> None:
        """Refuses to start when sources exist but their credentials cannot be read (no key)."""
        sources = await asyncio.to_thread(self.store.count_sources)
        if sources:
            try:
                self.box()
            except EncryptionKeyMissing as exc:
                raise EncryptionKeyMissing(f"{sources} warehouse source(s) exist but {exc}") from None
        if self.settings.scheduler_enabled:
            await self.scheduler.start()

    async def stop(self) -> None:
        await self.scheduler.stop()
        await asyncio.to_thread(self.store.close)


def warehouse_for_control_plane(
    settings: WarehouseSettings | None,
    clickhouse: ClickHouseSettings,
    control_plane: Any,
    admin: Any,
    event_log: EventLog,
) -> WarehouseRuntime:
    """The runtime an ingress process with a control plane (``ingress.control.runtime``) runs."""
    service = control_plane.service(admin)
    return WarehouseRuntime(
        settings or WarehouseSettings(),
        clickhouse,
        lambda: control_plane.directory,
        lambda: control_plane.discovery,
        event_log,
        service.require_org,
    )
