"""The whole pipeline, measured end to end through the public URL.

Runs the stack exactly as the README's run command starts it (``quivly dev``: Tansu, the chdb
ClickHouse endpoint, ingress, one streams worker, query, the gateway; free ports, a temporary
data directory), registers a bench organization with 100 customers through the admin API, then
for each rate pushes 1000-event batches through the gateway in an **open loop** (a batch is
sent at its scheduled time whatever happened to the earlier ones; its latency counts from that
time, queueing included) from several clients, and prints per rate:

* accepted events/s, push latency p50/p99;
* freshness measured from the outside: push acknowledged -> the pushed value visible through
  ``GET /v1/events/{id}`` (about two sampled events per second, polled every 50 ms), p50/p99;
* next to it the service's own freshness histogram (``quivly_streams_freshness_seconds``,
  ingress accepted -> row inserted) over the same interval, from the worker's ``/metrics``;
* the CPU time each component spent per 1000 accepted events (from ``/proc``, the level's
  sinking included) and the rate one whole core would give it: what limits the pipeline
  whatever else runs on the machine;
* on the best rate's second run, p95 of whole-organization searches (``POST /v1/events/search``
  without a customer) and of usage queries (``POST /v1/usage/query``, day windows over the last
  30 days, totals per metric) running alongside, one at a time.

The floor, measured in the same run before the first rate: one batch every 2 s (the pipeline's
latency without load). Between rates the worker's lag drains. It reports the highest rate whose
external freshness p99 stays under 1 s, then runs that rate again with the reads alongside (the
line ``<rate>+rd``): the reads share ClickHouse with the sink's inserts.

    .venv/bin/python bench/e2e_bench.py --rates 2000,5000,10000 --duration 20 --clients 8
    .venv/bin/python bench/e2e_bench.py --rates 5000 --duration 20 --profile /tmp/profiles  # py-spy

Each event of a batch is a distinct key (customer x metric), hourly values spread over the last
30 days, so writes keep replacing values of the newest month while searches and usage queries
read it.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.ops.histogram import bucket_quantile
from infra.processes import PRINTED_ADMIN_TOKEN, LocalRun, free_local_run_ports, wait_until_ready

BATCH = 1000
CUSTOMERS = 100
METRICS = 10
HOURS = 30 * 24
SAMPLES_PER_S = 2.0
POLL_S = 0.05
FRESHNESS_SLO_S = 1.0


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value * 1000:,.0f} ms"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


ROLES = {
    "gateway": "gateway",
    "serve-ingress": "ingress",
    "streams-worker": "streams",
    "chdb-server": "clickhouse",
    "serve-query": "query",
}


# ---------------------------------------------------------------------------------------- stack
@dataclass
class Stack:
    directory: Path
    ports: dict[str, int] = field(default_factory=dict)
    run: LocalRun | None = None
    admin_token: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def worker_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['streams']}"

    def start(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        self.ports = free_local_run_ports()
        # The bench pushes far more than the default 1000 requests per minute per replica.
        extra = {"QUIVLY_INGRESS_RATE_LIMIT_PER_MINUTE": "1000000"}
        self.run = LocalRun.start(self.directory, self.ports, extra, timeout_s)
        self.admin_token = self.run.printed(PRINTED_ADMIN_TOKEN)
        wait_until_ready(self.worker_url, max(deadline - time.monotonic(), 0))

    def stop(self) -> None:
        if self.run is not None:
            self.run.stop()

    def service_pids(self) -> dict[str, int]:
        """PIDs of the stack's processes by role (for py-spy)."""
        assert self.run is not None
        found: dict[str, int] = {}
        pending = [self.run.process.pid]
        while pending:
            pid = pending.pop()
            for task in Path(f"/proc/{pid}/task").glob("*"):
                children = (task / "children").read_text().split() if (task / "children").exists() else []
                for child in map(int, children):
                    pending.append(child)
                    try:
                        command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                    except OSError:
                        continue
                    for role in ("serve-ingress", "serve-query", "streams-worker", "gateway", "chdb-server"):
                        if f" {role} " in command:
                            found.setdefault(role, child)
        return found

    def create_bench_org(self) -> str:
        """An organization with CUSTOMERS customers, published; returns its API key."""
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        with httpx.Client(base_url=self.base_url + "/admin/v1", headers=headers, timeout=60) as admin:
            org = admin.post("/orgs", json={"name": f"Bench {int(time.time())}"}).raise_for_status().json()
            org_id = org["org_id"]
            customers = [
                {
                    "customer_id": f"c{i}",
                    "name": f"Customer {i}",
                    "external_ids": [{"source": "crm", "id": f"ext-{i}"}],
                }
                for i in range(CUSTOMERS)
            ]
            admin.put(f"/orgs/{org_id}/customers", json={"customers": customers}).raise_for_status()
            admin.post(f"/orgs/{org_id}/configuration", json={"source": "push_api"}).raise_for_status()
            admin.post(f"/orgs/{org_id}/configuration/publish").raise_for_status()
            key = str(admin.post(f"/orgs/{org_id}/api-key").raise_for_status().json()["api_key"])
        time.sleep(2)  # the new key and customers reach the ingress snapshot (polled every second)
        return key


# ----------------------------------------------------------------------------------------- load
def batch_body(sequence: int, now: datetime) -> tuple[bytes, float]:
    """Batch ``sequence``: 1000 distinct keys at one hour of the last 30 days; values grow with
    ``sequence`` (so a fetched value >= the pushed one means this write is visible)."""
    hour = (now - timedelta(hours=sequence % HOURS)).replace(minute=30, second=0, microsecond=0)
    stamp = hour.isoformat().replace("+00:00", "Z")
    base = float(sequence * BATCH)
    events = [
        {
            "external_customer_id": f"ext-{i % CUSTOMERS}",
            "metric_key": f"metric_{i // CUSTOMERS % METRICS}",
            "value": base + i,
            "timestamp": stamp,
            "granularity": "hourly",
            "properties": {"region": ("eu", "us", "ap")[i % 3], "plan": "pro"},
        }
        for i in range(BATCH)
    ]
    return orjson.dumps({"events": events}), base


@dataclass
class Level:
    rate: int
    duration_s: float
    latencies: list[float] = field(default_factory=list)
    accepted: int = 0
    failed: int = 0
    freshness: list[float] = field(default_factory=list)
    unseen: int = 0
    searches: list[float] = field(default_factory=list)
    usage_queries: list[float] = field(default_factory=list)
    service_p50: float = math.nan
    service_p99: float = math.nan
    service_rows: int = 0
    elapsed_s: float = 0.0
    last_ack: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)  # component -> CPU seconds during the level
    drain_s: float = 0.0

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.elapsed_s if self.elapsed_s else 0.0


class Bench:
    def __init__(self, stack: Stack, api_key: str, clients: int) -> None:
        self.stack = stack
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self.pushers = [
            httpx.AsyncClient(base_url=stack.base_url, headers=self.headers, timeout=60, limits=limits)
            for _ in range(clients)
        ]
        self.reader = httpx.AsyncClient(base_url=stack.base_url, headers=self.headers, timeout=60)
        self.sequence = 0

    async def close(self) -> None:
        for client in [*self.pushers, self.reader]:
            await client.aclose()

    async def run_level(self, rate: int, duration_s: float, reads: bool) -> Level:
        level = Level(rate, duration_s)
        before = await self.freshness_buckets()
        pids = self.stack.service_pids()
        cpu_before = {role: cpu_seconds(pid) for role, pid in pids.items()}
        batches = max(1, round(rate * duration_s / BATCH))
        interval = duration_s / batches
        sample_every = max(1, round(rate / BATCH / SAMPLES_PER_S))
        now = datetime.now(UTC)
        stop_reads = asyncio.Event()
        readers = [asyncio.create_task(self.read_alongside(level, stop_reads))] if reads else []
        tasks: list[asyncio.Task[None]] = []
        started = time.monotonic()
        for index in range(batches):
            scheduled = started + index * interval
            await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
            self.sequence += 1
            client = self.pushers[index % len(self.pushers)]
            sample = index % sample_every == 0
            tasks.append(asyncio.create_task(self.push(client, level, scheduled, now, sample)))
        await asyncio.gather(*tasks)
        level.elapsed_s = max(level.last_ack - started, duration_s)
        stop_reads.set()
        await asyncio.gather(*readers)
        after = await self.freshness_buckets()
        level.drain_s = await self.wait_drained()  # CPU of the level's events, their sinking included
        level.cpu_s = {ROLES[role]: cpu_seconds(pid) - cpu_before[role] for role, pid in pids.items()}
        bounds = [float(le) for le in after if le != "+Inf"]
        counts: list[int] = []
        previous = 0
        for le in after:  # in exposition order: ascending bounds, then +Inf
            cumulative = after[le] - before.get(le, 0)
            counts.append(cumulative - previous)
            previous = cumulative
        level.service_rows = previous
        level.service_p50 = bucket_quantile(0.5, bounds, counts) or math.nan
        level.service_p99 = bucket_quantile(0.99, bounds, counts) or math.nan
        return level

    async def push(
        self, client: httpx.AsyncClient, level: Level, scheduled: float, now: datetime, sample: bool
    ) -> None:
        body, base = batch_body(self.sequence, now)
        try:
            answer = await client.post("/v1/usage/events", content=body)
        except httpx.HTTPError:
            level.failed += 1
            return
        acked = time.monotonic()
        if answer.status_code != 200:
            level.failed += 1
            return
        level.latencies.append(acked - scheduled)
        level.last_ack = max(level.last_ack, acked)
        report = orjson.loads(answer.content)
        level.accepted += int(report["inserted"])
        if sample:
            await self.wait_visible(level, str(report["results"][0]["event_id"]), base, acked)

    async def wait_visible(self, level: Level, event_id: str, value: float, acked: float) -> None:
        deadline = acked + 30
        while time.monotonic() < deadline:
            answer = await self.reader.get(f"/v1/events/{event_id}")
            if answer.status_code == 200 and float(answer.json()["value"]) >= value:
                level.freshness.append(time.monotonic() - acked)
                return
            await asyncio.sleep(POLL_S)
        level.unseen += 1

    async def read_alongside(self, level: Level, stop: asyncio.Event) -> None:
        now = datetime.now(UTC)
        usage = {
            "from": (now - timedelta(days=30)).strftime("%Y-%m-%dT00:00:00Z"),
            "to": (now + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z"),
            "granularity": "hourly",
            "window_size": "day",
            "group_by": [],
        }
        turn = 0
        while not stop.is_set():
            turn += 1
            started = time.monotonic()
            if turn % 2:
                answer = await self.reader.post("/v1/events/search", json={"limit": 100})
                if answer.status_code == 200:
                    level.searches.append(time.monotonic() - started)
            else:
                answer = await self.reader.post("/v1/usage/query", json=usage)
                if answer.status_code == 200:
                    level.usage_queries.append(time.monotonic() - started)
            await asyncio.sleep(0.2)

    async def freshness_buckets(self) -> dict[str, int]:
        """The worker's cumulative freshness buckets: ``{le: count}`` in bound order."""
        text = (await self.reader.get(self.stack.worker_url + "/metrics")).text
        buckets: dict[str, int] = {}
        for line in text.splitlines():
            if line.startswith("quivly_streams_freshness_seconds_bucket{"):
                le = line.split('le="', 1)[1].split('"', 1)[0]
                buckets[le] = int(float(line.rsplit(" ", 1)[1]))
        return buckets

    async def wait_drained(self, timeout_s: float = 120) -> float:
        """Waits until the worker's lag is 0; returns how long it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            text = (await self.reader.get(self.stack.worker_url + "/metrics")).text
            lags = [
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("quivly_streams_consumer_lag{")
            ]
            if lags and sum(lags) == 0:
                return time.monotonic() - started
            await asyncio.sleep(0.5)
        return math.nan


def profile(stack: Stack, seconds: float, directory: Path) -> list[subprocess.Popen[bytes]]:
    """``py-spy record`` of every service during ``seconds`` (raw collapsed stacks)."""
    directory.mkdir(parents=True, exist_ok=True)
    spies = []
    for role, pid in stack.service_pids().items():
        spies.append(
            subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "-d",
                    str(int(seconds)),
                    "-p",
                    str(pid),
                    "-o",
                    str(directory / f"{role}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return spies


def print_cpu(level: Level) -> None:
    """CPU per 1000 accepted events per component, and the rate one whole core would allow it."""
    if not level.accepted:
        return
    parts = []
    for name in ROLES.values():
        spent = level.cpu_s.get(name, math.nan)
        per_thousand = spent * 1000 / level.accepted
        ceiling = 1.0 / (spent / level.accepted) if spent > 0 else math.inf
        parts.append(f"{name} {per_thousand * 1000:,.0f} ms ({ceiling:,.0f}/s)")
    print(
        f"         lag 0 again {level.drain_s:.1f} s after the last sample; "
        "CPU per 1000 events (one-core ceiling): " + ", ".join(parts),
        flush=True,
    )


def print_level(level: Level, label: str = "") -> None:
    push = f"{ms(percentile(level.latencies, 0.5)):>8} {ms(percentile(level.latencies, 0.99)):>9}"
    outside = f"{ms(percentile(level.freshness, 0.5)):>8} {ms(percentile(level.freshness, 0.99)):>9}"
    samples = f"({len(level.freshness):>3} samples, {level.unseen} unseen)"
    service = f"{ms(level.service_p50):>8} {ms(level.service_p99):>9} ({level.service_rows:,} rows)"
    search = f"{ms(percentile(level.searches, 0.95)):>8} ({len(level.searches)})"
    usage = f"{ms(percentile(level.usage_queries, 0.95)):>8} ({len(level.usage_queries)})"
    print(
        f"{label or level.rate:>8} | {level.accepted_per_s:>9,.0f} | {push} | {outside} {samples} | "
        f"{service} | {search} {usage} | failed {level.failed}",
        flush=True,
    )


async def run(args: argparse.Namespace, stack: Stack, api_key: str) -> None:
    bench = Bench(stack, api_key, args.clients)
    try:
        print(
            "    rate | accepted/s | push p50 / p99 | freshness (push ack -> GET sees it) p50 / p99 | "
            "service histogram p50 / p99 | search p95, usage query p95 | errors",
            flush=True,
        )
        floor = await bench.run_level(500, 10.0, reads=False)  # one batch every 2 s
        print_level(floor, "floor")
        print_cpu(floor)
        results: list[Level] = []
        for rate in args.rates:
            last = rate == args.rates[-1]
            spies = profile(stack, args.duration, args.profile) if args.profile and last else []
            level = await bench.run_level(rate, args.duration, reads=False)
            for spy in spies:
                spy.wait(timeout=args.duration + 60)
            print_level(level)
            print_cpu(level)
            results.append(level)
        good = [
            lvl for lvl in results if not lvl.failed and percentile(lvl.freshness, 0.99) < FRESHNESS_SLO_S
        ]
        best = max(good, key=lambda lvl: lvl.rate) if good else min(results, key=lambda lvl: lvl.rate)
        # The same rate again with whole-organization searches and usage queries running alongside.
        alongside = await bench.run_level(best.rate, args.duration, reads=True)
        print_level(alongside, f"{best.rate}+rd")
        print_cpu(alongside)
        if good:
            print(
                f"\nhighest rate with freshness p99 < {FRESHNESS_SLO_S:g} s: {best.rate:,} events/s offered, "
                f"{best.accepted_per_s:,.0f} accepted/s"
            )
        else:
            print(
                f"\nno rate kept freshness p99 under {FRESHNESS_SLO_S:g} s; reads measured at {best.rate:,}/s"
            )
        print(
            f"at {best.rate:,}/s with reads alongside: "
            f"searches p95 {ms(percentile(alongside.searches, 0.95))}, "
            f"usage queries p95 {ms(percentile(alongside.usage_queries, 0.95))}, "
            f"freshness p99 {ms(percentile(alongside.freshness, 0.99))}"
        )
    finally:
        await bench.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="2000,5000,10000", help="offered events/s, comma-separated")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per rate")
    parser.add_argument("--clients", type=int, default=8, help="HTTP clients (one connection each)")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy the services during the last rate")
    args = parser.parse_args()
    args.rates = [int(rate) for rate in args.rates.split(",")]
    with tempfile.TemporaryDirectory(prefix="quivly-e2e-") as directory:
        stack = Stack(Path(directory) / "data")
        started = time.monotonic()
        try:
            stack.start()
            print(
                f"stack up in {time.monotonic() - started:.0f} s ({stack.base_url}); logs in {directory}",
                flush=True,
            )
            api_key = stack.create_bench_org()
            asyncio.run(run(args, stack, api_key))
        finally:
            stack.stop()
    print(
        f"\ncommand: .venv/bin/python bench/e2e_bench.py --rates {','.join(map(str, args.rates))} "
        f"--duration {args.duration:g} --clients {args.clients}"
    )


if __name__ == "__main__":
    main()
