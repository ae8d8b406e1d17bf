"""Ingress metrics (Prometheus) and the thin wrappers that feed them.

The push path is measured from the outside: ``MeteredEventLog`` wraps the producer adapter
(produce latency, records per push, failures) and ``MeteredCallLog`` the push-call log, whose
``PushCall`` per push already says what happened to its events (written, verify-only,
unmatched), whether it was an idempotency replay or a rate-limit rejection. Labels never carry
an organization, customer or key.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Protocol

from prometheus_client import Counter, Histogram

from ingress.push.call_log import PushCall

EVENTS = Counter(
    "quivly_ingress_events",
    "Events of push calls by outcome: written (live, acknowledged by the log), test (verify-only, "
    "matched), unmatched (no customer for the external ID), invalid (in a batch refused by validation).",
    ["outcome"],
)
IDEMPOTENCY_REPLAYS = Counter(
    "quivly_ingress_idempotency_replays", "Push calls answered from a stored response (Idempotency-Key)."
)
RATE_LIMITED = Counter("quivly_ingress_rate_limited", "Push calls refused with 429 RATE_LIMITED.")
PRODUCE_LATENCY = Histogram(
    "quivly_ingress_produce_duration_seconds",
    "Time to write one push's records to the event log until every acknowledgement (acks=all).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PRODUCE_BATCH = Histogram(
    "quivly_ingress_produce_batch_records",
    "Records written to the event log per push.",
    buckets=(1, 10, 50, 100, 250, 500, 750, 1000),
)
PRODUCE_FAILURES = Counter(
    "quivly_ingress_produce_failures", "Pushes whose records the event log did not acknowledge (503)."
)
for outcome in ("written", "test", "unmatched", "invalid"):
    EVENTS.labels(outcome)  # every outcome exported from the start (a 0 is not "no data")

_EVENT_INDEX = re.compile(r"^events\[(\d+)\]")


class EventLog(Protocol):
    async def write(self, records: list[tuple[bytes, bytes]]) -> None: ...


class CallRecorder(Protocol):
    def record(self, call: PushCall) -> None: ...


class MeteredEventLog:
    """The event log, measured. Everything else (start, stop, readiness) goes to the wrapped one."""

    def __init__(self, inner: EventLog) -> None:
        self.inner = inner

    async def write(self, records: list[tuple[bytes, bytes]]) -> None:
        started = time.perf_counter()
        try:
            await self.inner.write(records)
        except Exception:
            PRODUCE_FAILURES.inc()
            raise
        PRODUCE_LATENCY.observe(time.perf_counter() - started)
        PRODUCE_BATCH.observe(len(records))

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class MeteredCallLog:
    """The push-call log, counting each call's events by outcome on the way in."""

    def __init__(self, inner: CallRecorder) -> None:
        self.inner = inner

    def record(self, call: PushCall) -> None:
        count_call(call)
        self.inner.record(call)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def count_call(call: PushCall) -> None:
    if call.idempotency_replayed:
        IDEMPOTENCY_REPLAYS.inc()  # its events were counted when it was first answered
        return
    if call.status_code == 429:
        RATE_LIMITED.inc()
        return
    if call.inserted:
        EVENTS.labels("written").inc(call.inserted)
    if call.mode == "test" and call.status_code == 200 and call.matched:
        EVENTS.labels("test").inc(call.matched)
    if call.unmatched:
        EVENTS.labels("unmatched").inc(call.unmatched)


def count_invalid(error_paths: Iterable[str]) -> None:
    """Counts the events a validation failure names (``events[3].value`` -> event 3), at least 1."""
    indexes = {match.group(1) for path in error_paths if (match := _EVENT_INDEX.match(path))}
    EVENTS.labels("invalid").inc(max(1, len(indexes)))
