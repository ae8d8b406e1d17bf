"""The worker's operations server and background measurements, through Faust's public API only.

``register_ops`` builds the server of ``/health/live``, ``/health/ready`` and ``/metrics`` on the
worker's web port (``faust.contrib.asgi.AsgiService``: uvicorn on the worker's own loop), which
``faust.Worker`` starts *before* the app: it answers while the table state is restored (ready
then says ``table_state: restoring ...``; Faust's own web server stays off). It also adds an app
task, the consumer lag per assigned partition every second
(``Consumer.assignment``/``highwater``/``position``), and a sensor with the
``on_rebalance_complete`` signal that times every rebalance with its table-state restore.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import faust
from faust.contrib.asgi import AsgiService
from faust.sensors import Sensor
from faust.types import AppT

from core.ops.asgi import ops_app
from core.ops.checks import clickhouse_check, kafka_check
from core.ops.health import Check, NotReady
from core.ops.logs import logging_config
from core.ops.settings import LogSettings, OpsSettings
from core.settings import ClickHouseSettings, KafkaSettings
from streams import metrics
from streams.settings import StreamsSettings

LAG_INTERVAL_S = 1.0


def register_ops(
    app: faust.App, kafka: KafkaSettings, clickhouse: ClickHouseSettings, streams: StreamsSettings
) -> AsgiService:
    """Adds the measurements to ``app``; returns the operations server, for ``faust.Worker``."""
    ops = OpsSettings()
    timer = RestoreTimer()
    server = AsgiService(
        ops_app("streams", readiness_checks(app, timer, kafka, clickhouse, ops), ops),
        host=ops.bind_host,
        port=streams.web_port,
        uvicorn_options={"log_config": None, "access_log": False},
    )

    @app.task
    async def measure_lag() -> None:
        while True:
            await asyncio.sleep(LAG_INTERVAL_S)
            await update_lag(app, kafka.usage_topic)

    app.sensors.add(timer)
    app.on_rebalance_complete.connect(timer.on_rebalance_complete)
    return server


class RestoreTimer(Sensor):
    """From the start of a rebalance to the end of the table-state restore it triggers (Faust
    sends ``on_rebalance_complete`` once the restore from the changelog is done)."""

    rebalance_started_at: float | None = None
    restored_once = False  # the first assignment's table state is restored: the worker works

    def on_rebalance_start(self, app: AppT) -> dict[str, Any]:
        self.rebalance_started_at = time.monotonic()
        return super().on_rebalance_start(app)

    async def on_rebalance_complete(self, sender: Any, /, *_: Any, signal: Any, **__: Any) -> None:
        if self.rebalance_started_at is not None:
            metrics.RESTORE_SECONDS.observe(time.monotonic() - self.rebalance_started_at)
            self.rebalance_started_at = None
        self.restored_once = True


def readiness_checks(
    app: faust.App,
    timer: RestoreTimer,
    kafka: KafkaSettings,
    clickhouse: ClickHouseSettings,
    ops: OpsSettings,
) -> dict[str, Check]:
    async def table_state() -> None:
        if not timer.restored_once:
            raise NotReady("waiting for partitions and the first table-state restore")
        if app.in_recovery:
            raise NotReady("restoring table state from the changelog")

    return {
        "kafka": kafka_check(kafka, ops.check_timeout_s),
        "clickhouse": clickhouse_check(clickhouse, ops.check_timeout_s),
        "table_state": table_state,
    }


async def update_lag(app: faust.App, topic: str) -> None:
    """Lag = the partition's high watermark minus the next offset to process (never negative)."""
    consumer = app.consumer
    assigned = {tp.partition: tp for tp in consumer.assignment() if tp.topic == topic}
    for partition in list(metrics.acked_offsets):
        if partition not in assigned:
            del metrics.acked_offsets[partition]  # moved to another worker: its offsets are not ours
    for label in _exported_partitions():
        if int(label) not in assigned:
            metrics.CONSUMER_LAG.remove(label)
    for partition, tp in assigned.items():
        highwater = consumer.highwater(tp)
        if highwater is None:
            continue
        acked = metrics.acked_offsets.get(partition)
        if acked is not None:
            next_offset = acked + 1
        else:
            position = await consumer.position(tp)
            if position is None:
                continue
            next_offset = position
        metrics.CONSUMER_LAG.labels(str(partition)).set(max(0, highwater - next_offset))


def _exported_partitions() -> list[str]:
    return [
        sample.labels["partition"] for family in metrics.CONSUMER_LAG.collect() for sample in family.samples
    ]


def worker_options(streams: StreamsSettings) -> dict[str, object]:
    """``faust.Worker`` options for the log format: with ``QUIVLY_LOG_FORMAT=json`` every line of
    the worker (Faust's own included) is a JSON object, and the start-up banner is left out."""
    logs = LogSettings()
    if logs.format != "json":
        return {}
    return {"logging_config": logging_config("streams", logs, streams.log_level), "quiet": True}
