"""What ``GET /health/ready`` of ingress checks: the broker (and our producer connected to it),
ClickHouse, and, when this replica runs the control plane, a loaded snapshot."""

from __future__ import annotations

from typing import Protocol

from core.ops.checks import clickhouse_check, kafka_check
from core.ops.health import Check, NotReady
from core.ops.settings import OpsSettings
from core.settings import ClickHouseSettings, KafkaSettings


class Connectable(Protocol):
    @property
    def ready(self) -> bool: ...


class Loadable(Protocol):
    @property
    def loaded(self) -> bool: ...


def readiness_checks(
    kafka: KafkaSettings,
    clickhouse: ClickHouseSettings,
    event_log: Connectable,
    control_plane: Loadable | None,
    ops: OpsSettings | None = None,
) -> dict[str, Check]:
    timeout_s = (ops or OpsSettings()).check_timeout_s
    broker = kafka_check(kafka, timeout_s)

    async def kafka_and_producer() -> None:
        if not event_log.ready:
            raise NotReady("the producer is not connected yet")
        await broker()

    checks: dict[str, Check] = {
        "kafka": kafka_and_producer,
        "clickhouse": clickhouse_check(clickhouse, timeout_s),
    }
    if control_plane is not None:

        async def snapshot() -> None:
            if not control_plane.loaded:
                raise NotReady("the control-plane snapshot is not loaded yet")

        checks["control_plane"] = snapshot
    return checks
