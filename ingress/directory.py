"""What the push path needs from the control plane, resolved from memory (never a network call).

The control plane (``ingress/control``) implements these against ClickHouse with an in-memory
snapshot refreshed in the background; the push API (``ingress/push``) only sees these protocols.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol


class Directory(Protocol):
    def org_for_api_key(self, api_key: str) -> str | None:
        """The organization whose *current* key this is; None for unknown or rotated-away keys."""

    def is_published(self, org_id: str) -> bool:
        """True once the organization's Push API configuration is published (live mode)."""

    def customer_for_external_id(self, org_id: str, external_id: str) -> str | None:
        """The customer_id the external ID resolves to within the organization, or None."""


class MetricDiscovery(Protocol):
    def saw(self, org_id: str, metric_keys: Iterable[str], at: datetime) -> None:
        """Records that a push named these metric keys. Must not block or do I/O on the caller."""


class NoDiscovery:
    """``MetricDiscovery`` that records nothing (an ingress without the control plane)."""

    def saw(self, org_id: str, metric_keys: Iterable[str], at: datetime) -> None:
        return None
