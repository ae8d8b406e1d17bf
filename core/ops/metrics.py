"""Prometheus metrics shared by the HTTP services, and the text exposition of ``GET /metrics``.

Every metric name starts with ``quivly_``. No label ever carries an organization, a customer or a
key: per-organization figures live in ClickHouse. Route labels are route *templates*
(``/v1/events/{event_id}``), never raw paths.

Multi-process mode: when ``PROMETHEUS_MULTIPROC_DIR`` is set (``quivly serve-* --workers N`` sets
it), every uvicorn worker writes its values there and ``/metrics`` adds up all workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from core.ops.histogram import BatchHistogram

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
disable_created_metrics()  # no ``*_created`` series: half the lines, nothing the alerts use

# Request latency: from well under a millisecond (a fetch) to a slow 1000-event push.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "quivly_http_requests",
    "HTTP requests answered, by service, method, route template and status code.",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "quivly_http_request_duration_seconds",
    "Time from request start to the end of the response, by service, method and route template.",
    ["service", "method", "route"],
    buckets=LATENCY_BUCKETS,
)

READY = Gauge(
    "quivly_ready",
    "1 when every readiness check of the process passes, else 0 (the checks of GET /health/ready).",
    ["service"],
    multiprocess_mode="livemin",
)
READINESS_CHECK = Gauge(
    "quivly_readiness_check",
    "1 when this readiness check passes, else 0.",
    ["service", "check"],
    multiprocess_mode="livemin",
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def exposition(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The metrics text and its content type (all uvicorn workers' values in multi-process mode)."""
    if registry is REGISTRY and multiprocess_dir() is not None:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class HistogramCollector(Collector):
    """Exports a ``BatchHistogram`` as a Prometheus histogram ``name`` and, for the recent window,
    a gauge ``<name>_recent{quantile=...}`` (p50/p99 of the last minutes, used by ``quivly status``)."""

    def __init__(self, name: str, documentation: str, histogram: BatchHistogram, window_doc: str) -> None:
        self._name = name
        self._documentation = documentation
        self._histogram = histogram
        self._window_doc = window_doc

    def collect(self) -> Iterator[Metric]:
        buckets, total = self._histogram.cumulative()
        yield HistogramMetricFamily(self._name, self._documentation, buckets=buckets, sum_value=total)
        recent = GaugeMetricFamily(f"{self._name}_recent", self._window_doc, labels=["quantile"])
        for q in RECENT_QUANTILES:
            value = self._histogram.recent_quantile(q)
            if value is not None:
                recent.add_metric([str(q)], value)
        yield recent


RECENT_QUANTILES = (0.5, 0.99)
