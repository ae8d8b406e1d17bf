"""One run of a warehouse source: read pages, validate, resolve, produce, record.

* A test run reads at most ``test_run_max_rows`` rows and produces nothing.
* A scheduled run reads the window ``since = watermark - lookback`` page by page. Each page is
  validated and resolved exactly like a push and produced to the usage topic with the push path's
  replace key; while one page is planned, the previous one is produced and the next one read
  (three pages in flight at most, so memory does not grow with the table). Only when every
  page was acknowledged does the run store its new watermark (the largest value of the watermark
  column it read). A run that fails keeps the previous watermark: the next run reads the same
  window again, and whatever a failed attempt had produced is replaced, never added.
* The warehouse or the broker being unavailable is retried with exponential backoff (the whole
  window again, harmless for the same reason); a query the warehouse rejects fails at once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets as random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import Counter, Gauge, Histogram

from ingress.directory import Directory, MetricDiscovery
from ingress.push.event_log import Batches, EventLogUnavailable
from ingress.warehouse import model
from ingress.warehouse.readers import (
    ReadOptions,
    WarehouseQueryFailed,
    WarehouseReader,
    WarehouseUnavailable,
    open_reader,
)
from ingress.warehouse.rows import Layout, Page, PagePlan, PagePlanner, QueryShapeError, RunTally
from ingress.warehouse.secrets import CredentialsUnreadable, SecretBox, redact
from ingress.warehouse.settings import WarehouseSettings
from ingress.warehouse.store import RunRecord, WarehouseStore

log = logging.getLogger(__name__)

ROWS = Counter(
    "quivly_warehouse_rows", "Rows of warehouse sources by outcome", ["kind", "outcome"]
)  # outcome: read, written, unmatched, invalid
RUNS = Counter("quivly_warehouse_runs", "Finished warehouse runs by status", ["kind", "status"])
RUN_SECONDS = Histogram(
    "quivly_warehouse_run_seconds",
    "Duration of warehouse runs",
    ["kind"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
ATTEMPT_RETRIES = Counter("quivly_warehouse_retries", "Run attempts retried after an outage", ["kind"])
SCHEDULER_LEADER = Gauge(
    "quivly_warehouse_scheduler_leader", "1 while this replica holds the scheduler lease"
)

ReaderFactory = Callable[[str, dict[str, Any], dict[str, Any]], WarehouseReader]


class EventLog(Protocol):
    async def partitions(self) -> list[int]: ...

    def batches(self, records: list[tuple[bytes, bytes]], partitions: list[int]) -> Batches: ...

    async def write_batches(self, batches: Batches) -> None: ...


class RunAborted(Exception):
    """The scheduler lost its lease in the middle of a run: stop producing at once."""


class Puller:
    def __init__(
        self,
        settings: WarehouseSettings,
        store: WarehouseStore,
        box: Callable[[], SecretBox],
        directory: Callable[[], Directory],
        discovery: Callable[[], MetricDiscovery],
        event_log: EventLog,
        reader_factory: ReaderFactory = open_reader,
    ) -> None:
        self.settings = settings
        self.store = store
        self._box = box
        self._directory = directory
        self._discovery = discovery
        self.event_log = event_log
        self._reader_factory = reader_factory
        self._planner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warehouse-plan")

    def _options(self, max_rows: int | None) -> ReadOptions:
        return ReadOptions(
            page_rows=self.settings.page_rows if max_rows is None else min(self.settings.page_rows, max_rows),
            max_rows=max_rows,
            connect_timeout_s=self.settings.connect_timeout_s,
            query_timeout_s=self.settings.query_timeout_s,
        )

    # ------------------------------------------------------------------ test run
    async def test_run(self, source: model.Source) -> dict[str, Any]:
        """Reads, validates and resolves up to ``test_run_max_rows`` rows; stores nothing.

        Raises ``WarehouseUnavailable``/``WarehouseQueryFailed`` (messages redacted).
        """
        credentials = self._box().open(source.secret_token)
        since = model.run_window(
            source, await asyncio.to_thread(self.store.last_watermark, source.org_id, source.source_id)
        )
        tally = RunTally()
        limit = self.settings.test_run_max_rows
        try:
            await self._pull(source, credentials, since, tally, self._options(limit), live=False)
        except (WarehouseUnavailable, WarehouseQueryFailed, QueryShapeError) as exc:
            raise type(exc)(redact(str(exc), credentials)) from None
        report = tally.report(capped=tally.rows_read >= limit)
        report["since"] = model.iso_z(since, "microseconds")
        return report

    # ------------------------------------------------------------------ scheduled run
    async def run(
        self, source: model.Source, scheduler_id: str, still_leader: Callable[[], bool] = lambda: True
    ) -> RunRecord:
        """One scheduled run with retries; the run record is stored when it starts and when it ends."""
        started = datetime.now(UTC)
        watermark = await asyncio.to_thread(self.store.last_watermark, source.org_id, source.source_id)
        since = model.run_window(source, watermark)
        record = RunRecord(
            source.org_id, source.source_id, "run_" + random.token_hex(8), "running", started, None,
            0, 0, 0, 0, 0, since, watermark, "", scheduler_id, time.time_ns() // 1000,
        )  # fmt: skip
        clock = time.monotonic()
        tally = RunTally()
        attempt_tallies: list[RunTally] = []  # a failed run reports what its last attempt produced
        credentials: dict[str, Any] = {}
        try:
            await asyncio.to_thread(self.store.save_run, record)
            log.info(
                "warehouse run %s of %s/%s (%s) started, since %s",
                record.run_id, source.org_id, source.source_id, source.kind,
                model.iso_z(since, "microseconds"),
            )  # fmt: skip
            credentials = self._box().open(source.secret_token)
            tally = await self._attempts(source, credentials, since, record, still_leader, attempt_tallies)
            record.status = "succeeded"
            if tally.watermark is not None and (watermark is None or tally.watermark > watermark):
                record.watermark = tally.watermark
        except (WarehouseUnavailable, WarehouseQueryFailed, QueryShapeError, EventLogUnavailable) as exc:
            record.status, record.error = "failed", redact(str(exc), credentials)
        except CredentialsUnreadable as exc:
            record.status, record.error = "failed", str(exc)
        except RunAborted:
            record.status, record.error = "failed", "the scheduler lost its lease; the next holder runs again"
        except asyncio.CancelledError:
            record.status, record.error = "failed", "stopped: this ingress process shut down during the run"
        except Exception as exc:  # never let one source stop the scheduler
            log.exception("warehouse run %s failed unexpectedly", record.run_id)
            record.status, record.error = (
                "failed",
                redact(f"internal error: {type(exc).__name__}", credentials),
            )
        if record.status == "failed" and attempt_tallies:
            tally = attempt_tallies[-1]
        record.finished_at = datetime.now(UTC)
        record.version = max(record.version + 1, time.time_ns() // 1000)
        self._count(source.kind, record, tally, time.monotonic() - clock)
        await asyncio.shield(asyncio.to_thread(self.store.save_run, record))
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError()  # stopping: an error met while cleaning up must not hide it
        return record

    def _count(self, kind: str, record: RunRecord, tally: RunTally, seconds: float) -> None:
        record.rows_read, record.rows_written = tally.rows_read, tally.written
        record.rows_unmatched, record.rows_invalid = tally.unmatched, tally.invalid
        RUNS.labels(kind, record.status).inc()
        RUN_SECONDS.labels(kind).observe(seconds)
        log.info(
            "warehouse run %s %s in %.1f s: %d read, %d written, %d unmatched, %d invalid, watermark %s%s",
            record.run_id, record.status, seconds, tally.rows_read, tally.written, tally.unmatched,
            tally.invalid, model.iso_z(record.watermark, "microseconds"),
            f" ({record.error})" if record.error else "",
        )  # fmt: skip

    async def _attempts(
        self,
        source: model.Source,
        credentials: dict[str, Any],
        since: datetime,
        record: RunRecord,
        still_leader: Callable[[], bool],
        attempt_tallies: list[RunTally],
    ) -> RunTally:
        delay = self.settings.retry_initial_s
        while True:
            record.attempts += 1
            tally = RunTally()
            attempt_tallies.append(tally)
            try:
                await self._pull(source, credentials, since, tally, self._options(None), True, still_leader)
                return tally
            except (WarehouseUnavailable, EventLogUnavailable) as exc:
                if record.attempts >= self.settings.run_attempts:
                    raise
                ATTEMPT_RETRIES.labels(source.kind).inc()
                log.warning(
                    "warehouse run %s attempt %d failed (%s); retrying in %.1f s",
                    record.run_id, record.attempts, redact(str(exc), credentials), delay,
                )  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(max(delay * 2, 0.1), self.settings.retry_max_s)

    async def _pull(
        self,
        source: model.Source,
        credentials: dict[str, Any],
        since: datetime,
        tally: RunTally,
        options: ReadOptions,
        live: bool,
        still_leader: Callable[[], bool] = lambda: True,
    ) -> None:
        """Three pages at most in flight: page N+2 is read and page N produced while N+1 is planned."""
        reader = self._reader_factory(source.kind, source.connection, credentials)
        pages = _Pages(reader.pages(source.query, since, options))
        received_at = datetime.now(UTC)
        resolve = self._directory().customer_for_external_id
        loop = asyncio.get_running_loop()
        planner: PagePlanner | None = None
        upcoming: asyncio.Future[Page | None] | None = None
        writing: asyncio.Future[None] | None = None
        try:
            partitions = await self.event_log.partitions() if live else []
            page = await pages.next()
            while page is not None:
                if planner is None:
                    layout = Layout.of(page.columns, source.watermark_column)
                    planner = PagePlanner(source.org_id, layout, resolve, live, received_at, tally)
                upcoming = asyncio.ensure_future(pages.next())
                # One thread plans every page (not any pool thread): rows are allocated and freed in
                # one malloc arena, so the resident memory stays that of a few pages.
                plan, batches = await loop.run_in_executor(
                    self._planner, self._plan_page, planner, page.rows, partitions
                )
                page = None
                ROWS.labels(source.kind, "read").inc(plan.rows)
                ROWS.labels(source.kind, "unmatched").inc(plan.unmatched)
                ROWS.labels(source.kind, "invalid").inc(plan.invalid)
                if writing is not None:
                    await writing
                    writing = None
                if batches:
                    if not still_leader():
                        raise RunAborted()
                    writing = asyncio.ensure_future(self._write(source, batches, plan.written, tally))
                page = await upcoming
                upcoming = None
            if writing is not None:
                await writing
                writing = None
        finally:
            if writing is not None:
                writing.cancel()
                await asyncio.wait([writing])
            if upcoming is not None:
                # The read runs in a thread that cannot be cancelled: let it finish first.
                await asyncio.wait([upcoming])
                if not upcoming.cancelled():
                    upcoming.exception()
            await asyncio.to_thread(pages.close)
            await asyncio.to_thread(reader.close)
        if tally.metric_keys:
            self._discovery().saw(source.org_id, tally.metric_keys, received_at)

    def _plan_page(
        self, planner: PagePlanner, rows: Sequence[Sequence[Any]], partitions: list[int]
    ) -> tuple[PagePlan, Batches]:
        plan = planner.plan(rows)
        if not planner.live or not plan.records:
            return plan, {}
        batches = self.event_log.batches(plan.records, partitions)
        plan.records = []  # in the batches now: only the count is kept
        return plan, batches

    async def _write(self, source: model.Source, batches: Batches, records: int, tally: RunTally) -> None:
        await self.event_log.write_batches(batches)
        tally.written += records
        ROWS.labels(source.kind, "written").inc(records)
        log.info(
            "warehouse source %s/%s: %d rows read, %d written so far",
            source.org_id, source.source_id, tally.rows_read, tally.written,
        )  # fmt: skip


_READERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="warehouse-read")


class _Pages:
    """A blocking page iterator read in a worker thread, one page at a time.

    A read cannot be cancelled once its thread runs: ``close`` waits for it (the lock) instead of
    closing a generator that is still executing.
    """

    def __init__(self, pages: Iterator[Page]) -> None:
        self._pages = pages
        self._lock = threading.Lock()

    def _next(self) -> Page | None:
        with self._lock:
            return next(self._pages, None)

    async def next(self) -> Page | None:
        return await asyncio.get_running_loop().run_in_executor(_READERS, self._next)

    def close(self) -> None:
        with self._lock:
            close = getattr(self._pages, "close", None)
            if close is not None:
                close()
