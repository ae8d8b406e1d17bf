"""One active scheduler across ingress replicas: a lease row in ClickHouse, then due runs.

Every replica tries, each tick, to hold the lease ``warehouse-scheduler``:

1. read the current claim (highest version); if another replica holds it and it has not
   expired, stop here;
2. otherwise insert a claim (holder = this replica, expires = now + ttl, version = now in µs),
   wait ``lease_settle_s`` and read again: the lease is this replica's only if the highest claim is
   its own. Two replicas that both saw a free lease both claim; after the settle time both read
   the same highest claim, so exactly one keeps it.
3. The holder renews the same way every ttl / 3, and counts itself the holder only until
   ``ttl - settle - 1 s`` after its last successful claim, so it stops producing before any
   other replica may take over (it checks this before producing each page).

Clickhouse has no compare-and-set: the guarantee assumes a claim insert is visible within the
settle time and replica clocks agree to well under a second (the lease times are wall clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta

from ingress.warehouse import model
from ingress.warehouse.puller import SCHEDULER_LEADER, Puller
from ingress.warehouse.settings import WarehouseSettings
from ingress.warehouse.store import WarehouseStore

log = logging.getLogger(__name__)

LEASE_NAME = "warehouse-scheduler"


def scheduler_id() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


class Lease:
    def __init__(self, store: WarehouseStore, holder: str, ttl_s: float, settle_s: float) -> None:
        self.store = store
        self.holder = holder
        self.ttl_s = ttl_s
        self.settle_s = settle_s
        self._valid_until = 0.0

    def held(self) -> bool:
        return time.monotonic() < self._valid_until

    def try_hold(self) -> bool:
        """Claims or renews the lease (blocking: run it in a thread); True when this replica holds it."""
        claimed_at = time.monotonic()
        now = datetime.now(UTC)
        current = self.store.lease(LEASE_NAME)
        if current is not None and current[0] != self.holder and current[1].replace(tzinfo=UTC) > now:
            self._valid_until = 0.0
            return False
        version = max(time.time_ns() // 1000, (current[2] + 1) if current else 0)
        self.store.claim_lease(LEASE_NAME, self.holder, now + timedelta(seconds=self.ttl_s), version)
        if self.settle_s:
            time.sleep(self.settle_s)
        current = self.store.lease(LEASE_NAME)
        if current is None or current[0] != self.holder:
            self._valid_until = 0.0
            return False
        self._valid_until = claimed_at + self.ttl_s - self.settle_s - 1.0
        return True

    def release(self) -> None:
        """Lets another replica take over at once (on a clean stop)."""
        if self.held():
            self._valid_until = 0.0
            self.store.claim_lease(LEASE_NAME, "", datetime.now(UTC), time.time_ns() // 1000)


class Scheduler:
    def __init__(
        self, settings: WarehouseSettings, store: WarehouseStore, puller: Puller, holder: str
    ) -> None:
        self.settings = settings
        self.store = store
        self.puller = puller
        self.holder = holder
        self.lease = Lease(store, holder, settings.lease_ttl_s, settings.lease_settle_s)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._keep_lease(), name="warehouse-lease"),
            asyncio.create_task(self._dispatch(), name="warehouse-scheduler"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # A run in progress finishes its current read first (reads are not cancellable).
            await asyncio.wait(self._tasks, timeout=self.settings.query_timeout_s + 5)
        self._tasks = []
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.lease.release)
        SCHEDULER_LEADER.set(0)

    async def _keep_lease(self) -> None:
        was_leader = False
        while True:
            try:
                leader = await asyncio.to_thread(self.lease.try_hold)
            except Exception as exc:
                log.warning("warehouse scheduler lease check failed (%s); will retry", exc)
                leader = self.lease.held()
            if leader != was_leader:
                log.info("warehouse scheduler %s %s the lease", self.holder, "holds" if leader else "lost")
                was_leader = leader
            SCHEDULER_LEADER.set(1 if leader else 0)
            # Renew three times per lease; a replica without the lease checks as often.
            await asyncio.sleep(max(self.settings.tick_s, self.settings.lease_ttl_s / 3))

    async def _dispatch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_s)
            if not self.lease.held():
                continue
            try:
                await self.run_due()
            except Exception as exc:
                log.warning("warehouse scheduler step failed (%s); will retry", exc)

    async def run_due(self) -> int:
        """Runs every due published source once, one after another; returns how many ran."""
        sources = await asyncio.to_thread(self.store.sources)
        state = await asyncio.to_thread(self.store.schedule_state)
        ran = 0
        for source in sources:
            if not self.lease.held():
                break
            last_started = state.get((source.org_id, source.source_id), (None, None))[0]
            if last_started is not None:
                last_started = last_started.replace(tzinfo=UTC)
            if model.is_due(source, last_started, datetime.now(UTC)):
                await self.puller.run(source, self.holder, self.lease.held)
                ran += 1
        return ran
