"""Streams worker metrics (Prometheus). The agent and the sink call these with one line each.

* records by outcome (applied, replayed, dead_lettered), records per batch;
* insert latency (until ClickHouse acknowledged, retries included) and insert retries;
* freshness: per inserted row, seconds from its ingestion at ingress (``ingested_at``, carried
  by the record) to the acknowledged insert of its row;
* consumer lag per partition (``streams.ops`` updates it every second from the offsets acked here);
* table-state restore time (``streams.ops``);
* monthly summaries made, their time, failed rounds and months waiting (``streams.summary``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

from core.ops.histogram import BatchHistogram
from core.ops.metrics import LATENCY_BUCKETS, HistogramCollector
from streams.rows import COLUMNS

FRESHNESS_BOUNDS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
FRESHNESS = BatchHistogram(FRESHNESS_BOUNDS)
REGISTRY.register(
    HistogramCollector(
        "quivly_streams_freshness_seconds",
        "Seconds from the moment ingress accepted an event to the acknowledged insert of its row.",
        FRESHNESS,
        "Freshness quantiles over the last 5 minutes (this worker).",
    )
)
RECORDS = Counter(
    "quivly_streams_records",
    "Records consumed by outcome: applied (row inserted into ClickHouse), replayed (already applied, "
    "skipped), dead_lettered (undecodable or refused by ClickHouse; sent to the dead-letter topic).",
    ["outcome"],
)
for outcome in ("applied", "replayed", "dead_lettered"):
    RECORDS.labels(outcome)
BATCH_RECORDS = Histogram(
    "quivly_streams_batch_records",
    "Records per sink batch.",
    buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000, 20000),
)
INSERT_LATENCY = Histogram(
    "quivly_streams_insert_duration_seconds",
    "Time until ClickHouse acknowledged a batch's insert (retries included).",
    buckets=LATENCY_BUCKETS,
)
INSERT_RETRIES = Counter("quivly_streams_insert_retries", "Failed ClickHouse insert attempts (each retried).")
CONSUMER_LAG = Gauge(
    "quivly_streams_consumer_lag",
    "Records in the usage topic not yet processed (acked) by this worker, per assigned partition.",
    ["partition"],
)
RESTORE_SECONDS = Histogram(
    "quivly_streams_table_restore_seconds",
    "From the start of each rebalance (the first assignment at start included) to the end of the "
    "table-state restore from the changelog it triggers.",
    buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0),
)
SUMMARY_MONTHS = Counter(
    "quivly_streams_summary_months",
    "Monthly usage summaries made, by outcome: summarized (complete, used by usage queries) or "
    "changed (the month was written meanwhile; summarized again later).",
    ["outcome"],
)
for outcome in ("summarized", "changed"):
    SUMMARY_MONTHS.labels(outcome)
SUMMARY_SECONDS = Histogram(
    "quivly_streams_summary_month_seconds",
    "Time to summarize one month of usage values.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
SUMMARY_ROUND_FAILURES = Counter(
    "quivly_streams_summary_round_failures", "Summary refresh rounds that failed (retried next round)."
)
SUMMARY_MONTHS_WAITING = Gauge(
    "quivly_streams_summary_months_waiting",
    "Months without a current summary after the last round (written since the round before, or "
    "written while summarized): usage queries read them from the daily values.",
)

_INGESTED_AT = COLUMNS.index("ingested_at")
# partition -> the highest offset this worker acked (its rows are in ClickHouse).
acked_offsets: dict[int, int] = {}


class _Message(Protocol):
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


class _Event(Protocol):
    @property
    def message(self) -> Any: ...


class _Plan(Protocol):
    rows: list[Any]
    replays: int
    dead_letters: list[Any]


def inserted(rows: Sequence[Sequence[Any]], started: float) -> None:
    """After ClickHouse acknowledged ``rows`` (``started``: ``time.monotonic()`` before the first try)."""
    INSERT_LATENCY.observe(time.monotonic() - started)
    RECORDS.labels("applied").inc(len(rows))  # here, not per batch: rows ClickHouse refused are not
    now_us = time.time() * 1_000_000
    column = _INGESTED_AT
    FRESHNESS.observe_many([(now_us - row[column]) / 1_000_000 for row in rows])


def month_summarized(outcome: str, seconds: float) -> None:
    SUMMARY_MONTHS.labels(outcome).inc()
    SUMMARY_SECONDS.observe(seconds)


def insert_failed() -> None:
    INSERT_RETRIES.inc()


def batch_acked(events: Sequence[_Event], plan: _Plan) -> None:
    """After a batch's events were acked: replays, dead letters (ClickHouse's refusals included),
    its size, the partitions' acked offsets."""
    RECORDS.labels("replayed").inc(plan.replays)
    RECORDS.labels("dead_lettered").inc(len(plan.dead_letters))
    BATCH_RECORDS.observe(len(events))
    highest = acked_offsets
    for event in events:
        message = event.message
        if message.offset > highest.get(message.partition, -1):
            highest[message.partition] = message.offset
