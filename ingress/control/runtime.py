"""The control plane as one object per ingress process: snapshot, background refresh, discovery."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from core.settings import ClickHouseSettings
from ingress.control.settings import ControlPlaneSettings

__all__ = ["ControlPlane", "ControlPlaneSettings"]


class _EmptyDirectory:
    def org_for_api_key(self, api_key: str) -> str | None:
        return None

    def is_published(self, org_id: str) -> bool:
        return False

    def customer_for_external_id(self, org_id: str, external_id: str) -> str | None:
        return None


class _NoDiscovery:
    def saw(self, org_id: str, metric_keys: Iterable[str], at: datetime) -> None:
        return None


class ControlPlane:
    """STUB (being filled in): same interface as the final version."""

    def __init__(self, clickhouse: ClickHouseSettings, settings: ControlPlaneSettings) -> None:
        self.clickhouse = clickhouse
        self.settings = settings
        self._directory = _EmptyDirectory()
        self._discovery = _NoDiscovery()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    @property
    def directory(self) -> _EmptyDirectory:
        return self._directory

    @property
    def discovery(self) -> _NoDiscovery:
        return self._discovery
