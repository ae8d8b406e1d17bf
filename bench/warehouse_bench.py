"""Warehouse source benchmark: one run pulling a ClickHouse table of N usage rows end to end.

Starts the real local components (Tansu, the chdb endpoint), fills a warehouse table with N rows
(1,000 customers, one metric, daily values), then in the same process, ``--repeats`` times:

* the **read floor**: a bare read of the same query with the same client (the puller's ClickHouse
  reader, pages counted and dropped);
* the **puller**: one scheduled run (read, validate, resolve, produce with ``acks=all`` to Tansu,
  run record in ClickHouse), exactly as the scheduler runs it;
* the **produce floor**: a bare produce of the records that run wrote (same keys, same values,
  encoded and partitioned before the clock starts) to the same broker and topic, with the same
  producer (``KafkaEventLog``'s settings, ``acks=all``): batches per partition, all acknowledged.

For each phase: rows/s (median over the repeats) and the peak resident memory above the phase's
start and in absolute terms (sampled every 20 ms from /proc; the largest over the repeats). Each
phase runs in a fresh process, so no phase inherits another's memory.

    .venv/bin/python bench/warehouse_bench.py --rows 1000000 --repeats 3
    .venv/bin/python bench/warehouse_bench.py --rows 200000 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.clickhouse import make_client
from core.periods import epoch_micros, format_utc
from core.records import record_bytes, replace_key_bytes
from core.settings import ClickHouseSettings, KafkaSettings
from infra.migrate import apply_migrations
from infra.test_components import clickhouse_url, kafka_bootstrap_servers
from infra.topics import provision_topics
from ingress.push.event_log import KafkaEventLog
from ingress.push.partitioner import KeyPartitioner
from ingress.settings import IngressSettings
from ingress.warehouse import model
from ingress.warehouse.clickhouse_reader import ClickHouseReader
from ingress.warehouse.puller import Puller
from ingress.warehouse.readers import ReadOptions
from ingress.warehouse.secrets import SecretBox, generate_key
from ingress.warehouse.settings import WarehouseSettings
from ingress.warehouse.store import WarehouseStore

CUSTOMERS = 1000
ORG = "org-bench"
METRIC = "api_calls"
FIRST_DAY = datetime(2026, 1, 1, tzinfo=UTC)
QUERY = (
    "SELECT customer AS external_customer_id, metric AS metric_key, value, ts AS timestamp, updated_at "
    "FROM usage WHERE updated_at > {since:DateTime64(6, 'UTC')}"
)
DATABASE = "warehouse_bench"
STORE_DATABASE = "quivly_bench"
PHASES = ("read", "puller", "produce")
PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


@dataclass
class Peak:
    start: int
    peak: int

    @property
    def above_start(self) -> int:
        return self.peak - self.start


@contextmanager
def peak_rss() -> Iterator[Peak]:
    """Yields the peak RSS of the block, sampled every 20 ms (final once the block ends)."""
    gc.collect()
    start = rss_bytes()
    peak = Peak(start, start)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak.peak = max(peak.peak, rss_bytes())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()
        peak.peak = max(peak.peak, rss_bytes())


class Directory:
    def __init__(self) -> None:
        self.customers = {f"ext-{i}": f"cust-{i}" for i in range(CUSTOMERS)}

    def org_for_api_key(self, api_key: str) -> str | None:
        return None

    def is_published(self, org_id: str) -> bool:
        return True

    def customer_for_external_id(self, org_id: str, external_id: str) -> str | None:
        return self.customers.get(external_id)


class Discovery:
    def saw(self, org_id: str, metric_keys: Any, at: datetime) -> None:
        return None


def fill_warehouse(url: str, database: str, rows: int) -> None:
    client = make_client(ClickHouseSettings(url=url), database="default")
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.command(
        f"CREATE TABLE {database}.usage (customer String, metric String, value Float64, "
        "ts DateTime64(3, 'UTC'), updated_at DateTime64(6, 'UTC')) ENGINE = MergeTree ORDER BY updated_at"
    )
    client.command(
        f"INSERT INTO {database}.usage SELECT concat('ext-', toString(number % {CUSTOMERS})), "
        f"'{METRIC}', number % 977, "
        f"toDateTime64('{FIRST_DAY:%Y-%m-%d} 00:00:00', 3, 'UTC') "
        f"+ toIntervalDay(intDiv(number, {CUSTOMERS})), "
        f"toDateTime64('2026-11-01 00:00:00', 6, 'UTC') + toIntervalMicrosecond(number) FROM numbers({rows})"
    )
    client.close()


def read_floor(url: str, database: str, rows: int, page_rows: int) -> tuple[float, Peak]:
    reader = ClickHouseReader({"url": url, "database": database}, {})
    options = ReadOptions(page_rows=page_rows, max_rows=None, connect_timeout_s=10, query_timeout_s=600)
    with peak_rss() as peak:
        started = time.perf_counter()
        read = sum(len(page.rows) for page in reader.pages(QUERY, model.EPOCH, options))
        seconds = time.perf_counter() - started
    reader.close()
    assert read == rows, (read, rows)
    return read / seconds, peak


def bench_records(rows: int, received_at: datetime) -> list[tuple[bytes, bytes]]:
    """The records a run of the bench table writes, byte for byte (as ``fill_warehouse`` fills it)."""
    received_us = epoch_micros(received_at)
    records = []
    for number in range(rows):
        customer = number % CUSTOMERS
        day = FIRST_DAY + timedelta(days=number // CUSTOMERS)
        period = format_utc(day)
        key = replace_key_bytes(ORG, f"cust-{customer}", METRIC, "daily", period)
        value = record_bytes(
            org_id=ORG, customer_id=f"cust-{customer}", external_customer_id=f"ext-{customer}",
            metric_key=METRIC, granularity="daily", period_start=period, value=float(number % 977),
            event_type="credit", created_at_us=epoch_micros(day), ingested_at_us=received_us,
            properties="{}",
        )  # fmt: skip
        # Copies: a bytes object fresh from orjson.dumps keeps ~4 KB of resident memory while it lives.
        records.append((bytes(memoryview(key)), bytes(memoryview(value))))
    return records


async def produce_floor(kafka: KafkaSettings, rows: int, page_rows: int) -> tuple[float, Peak]:
    """A bare produce of the bench's records, encoded and partitioned before the clock starts."""
    event_log = KafkaEventLog(kafka, IngressSettings(produce_timeout_s=60))
    await event_log.start()
    assert await event_log.wait_ready(30)
    producer = event_log._producer
    assert producer is not None
    partitions = sorted(await producer.partitions_for(kafka.usage_topic))
    by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
    records = bench_records(rows, datetime.now(UTC))
    indexes = KeyPartitioner().partitions_for([key for key, _ in records], len(partitions))
    for record, index in zip(records, indexes, strict=True):
        by_partition.setdefault(partitions[index], []).append(record)
    del records

    async def send(partition: int, items: list[tuple[bytes, bytes]]) -> int:
        deliveries = []
        batch = producer.create_batch()
        for key, value in items:
            if batch.append(key=key, value=value, timestamp=None) is None:
                deliveries.append(await producer.send_batch(batch, kafka.usage_topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        deliveries.append(await producer.send_batch(batch, kafka.usage_topic, partition=partition))
        await asyncio.gather(*deliveries)
        return len(items)

    with peak_rss() as peak:
        started = time.perf_counter()
        sent = sum(await asyncio.gather(*(send(p, items) for p, items in by_partition.items())))
        seconds = time.perf_counter() - started
    await event_log.stop()
    assert sent == rows, (sent, rows)
    return rows / seconds, peak


async def pull(
    clickhouse: ClickHouseSettings, kafka: KafkaSettings, url: str, database: str, rows: int, page_rows: int
) -> tuple[float, Peak, Any]:
    key = generate_key()
    settings = WarehouseSettings(encryption_key=key, page_rows=page_rows)
    event_log = KafkaEventLog(kafka, IngressSettings(produce_timeout_s=60))
    await event_log.start()
    assert await event_log.wait_ready(30)
    store = WarehouseStore(clickhouse)
    box = SecretBox(key)
    puller = Puller(settings, store, lambda: box, Directory, Discovery, event_log)
    # clickhouse-connect imports pandas on a process's first insert (the run record): ~80 MiB, once
    # per process, not per run, so it is imported before the phase starts.
    import pandas  # noqa: F401

    source = model.Source(
        ORG, f"src_{uuid.uuid4().hex[:8]}", "bench", "clickhouse", model.STATUS_PUBLISHED,
        {"url": url, "database": database}, box.seal({}), QUERY, 3600, "updated_at", 0,
        datetime.now(UTC) - timedelta(days=1), datetime.now(UTC),
    )  # fmt: skip
    with peak_rss() as peak:
        started = time.perf_counter()
        record = await puller.run(source, "bench")
        seconds = time.perf_counter() - started
    await event_log.stop()
    store.close()
    assert record.status == "succeeded" and record.rows_written == rows, record
    return rows / seconds, peak, record


def summary(name: str, results: list[dict[str, float]]) -> str:
    rates = [result["rate"] for result in results]
    above = max(result["peak"] - result["start"] for result in results)
    return (
        f"{name:<46} {statistics.median(rates):>10,.0f} rows/s (runs: "
        f"{', '.join(f'{rate:,.0f}' for rate in rates)}); peak RSS +{above / MIB:.0f} MiB above "
        f"the phase's start, {max(result['peak'] for result in results) / MIB:.0f} MiB in all"
    )


def fresh_topic(servers: str) -> str:
    topic = f"bench_{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(bootstrap_servers=servers, usage_topic=topic, dead_letter_topic=f"{topic}_dlq")
    asyncio.run(provision_topics(kafka))
    return topic


def run_phase(args: argparse.Namespace) -> dict[str, float]:
    """One phase in a fresh process (so each phase's memory is its own), given the components."""
    kafka = KafkaSettings(
        bootstrap_servers=args.servers, usage_topic=args.topic, dead_letter_topic=f"{args.topic}_dlq"
    )
    if args.phase == "read":
        rate, peak = read_floor(args.url, DATABASE, args.rows, args.page_rows)
    elif args.phase == "produce":
        rate, peak = asyncio.run(produce_floor(kafka, args.rows, args.page_rows))
    else:
        clickhouse = ClickHouseSettings(url=args.url, database=STORE_DATABASE)
        rate, peak, _ = asyncio.run(pull(clickhouse, kafka, args.url, DATABASE, args.rows, args.page_rows))
    return {"rate": rate, "start": peak.start, "peak": peak.peak}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--page-rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--servers", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(run_phase(args)))
        return
    results: dict[str, list[dict[str, float]]] = {phase: [] for phase in PHASES}
    with tempfile.TemporaryDirectory(prefix="quivly-warehouse-bench-") as work:
        work_dir = Path(work)
        with kafka_bootstrap_servers(work_dir) as servers, clickhouse_url(work_dir) as url:
            apply_migrations(ClickHouseSettings(url=url, database=STORE_DATABASE))
            started = time.perf_counter()
            fill_warehouse(url, DATABASE, args.rows)
            print(f"warehouse table: {args.rows:,} rows in {time.perf_counter() - started:.1f} s")
            common = ["--rows", str(args.rows), "--page-rows", str(args.page_rows)]
            common += ["--servers", servers, "--url", url]
            for repeat in range(args.repeats):
                for phase in PHASES:
                    topic = fresh_topic(servers)  # each phase writes to an empty topic
                    child = subprocess.run(
                        [sys.executable, __file__, "--phase", phase, "--topic", topic, *common],
                        check=True, capture_output=True, text=True,
                    )  # fmt: skip
                    results[phase].append(json.loads(child.stdout.strip().splitlines()[-1]))
                print(
                    f"run {repeat + 1}: "
                    + ", ".join(f"{phase} {results[phase][-1]['rate']:,.0f} rows/s" for phase in PHASES),
                    flush=True,
                )
    rates = {phase: statistics.median(result["rate"] for result in results[phase]) for phase in PHASES}
    print(
        f"\n{args.rows:,} rows, pages of {args.page_rows:,}, medians of {args.repeats} runs, "
        f"each phase in its own process; load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(summary("read floor (bare read, same client and query)", results["read"]))
    print(summary("produce floor (bare produce, acks=all)", results["produce"]))
    print(summary("puller (read, validate, resolve, produce)", results["puller"]))
    print(
        f"puller / read floor: {rates['puller'] / rates['read']:.2f} (goal >= 0.50); "
        f"puller / produce floor: {rates['puller'] / rates['produce']:.2f}; "
        f"produce floor / read floor: {rates['produce'] / rates['read']:.2f}"
    )
    print(f"reproduce: .venv/bin/python bench/warehouse_bench.py {' '.join(sys.argv[1:])}")


if __name__ == "__main__":
    main()
