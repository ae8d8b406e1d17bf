"""Warehouse source benchmark: one run pulling a ClickHouse table of N usage rows end to end.

Starts the real local components (Tansu, the chdb endpoint), fills a warehouse table with N rows
(1,000 customers, one metric, daily values), then in the same process:

* the **floor**: a bare read of the same query with the same client (the puller's ClickHouse
  reader, pages counted and dropped);
* the **puller**: one scheduled run (read, validate, resolve, produce with ``acks=all`` to Tansu,
  run record in ClickHouse), exactly as the scheduler runs it.

For each: rows/s and the peak resident memory above the phase's start (sampled every 20 ms from
/proc). Run it at two sizes to see memory stay flat in the number of rows:

    .venv/bin/python bench/warehouse_bench.py --rows 1000000
    .venv/bin/python bench/warehouse_bench.py --rows 200000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.clickhouse import make_client
from core.settings import ClickHouseSettings, KafkaSettings
from infra.migrate import apply_migrations
from infra.test_components import clickhouse_url, kafka_bootstrap_servers
from infra.topics import provision_topics
from ingress.push.event_log import KafkaEventLog
from ingress.settings import IngressSettings
from ingress.warehouse import model
from ingress.warehouse.clickhouse_reader import ClickHouseReader
from ingress.warehouse.puller import Puller
from ingress.warehouse.readers import ReadOptions
from ingress.warehouse.secrets import SecretBox, generate_key
from ingress.warehouse.settings import WarehouseSettings
from ingress.warehouse.store import WarehouseStore

CUSTOMERS = 1000
QUERY = (
    "SELECT customer AS external_customer_id, metric AS metric_key, value, ts AS timestamp, updated_at "
    "FROM usage WHERE updated_at > {since:DateTime64(6, 'UTC')}"
)
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


@contextmanager
def peak_rss() -> Iterator[Callable[[], int]]:
    """Yields a function giving the peak RSS above the start of the block (sampled every 20 ms)."""
    start = rss_bytes()
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss_bytes())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield lambda: peak[0] - start
    finally:
        done.set()
        thread.join()
        peak[0] = max(peak[0], rss_bytes())


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
        "'api_calls', number % 977, "
        f"toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + toIntervalDay(intDiv(number, {CUSTOMERS})), "
        f"toDateTime64('2026-11-01 00:00:00', 6, 'UTC') + toIntervalMicrosecond(number) FROM numbers({rows})"
    )
    client.close()


def floor(url: str, database: str, rows: int, page_rows: int) -> tuple[float, int]:
    reader = ClickHouseReader({"url": url, "database": database}, {})
    options = ReadOptions(page_rows=page_rows, max_rows=None, connect_timeout_s=10, query_timeout_s=600)
    with peak_rss() as peak:
        started = time.perf_counter()
        read = sum(len(page.rows) for page in reader.pages(QUERY, model.EPOCH, options))
        seconds = time.perf_counter() - started
    reader.close()
    assert read == rows, (read, rows)
    return read / seconds, peak()


async def pull(
    clickhouse: ClickHouseSettings, kafka: KafkaSettings, url: str, database: str, rows: int, page_rows: int
) -> tuple[float, int, Any]:
    key = generate_key()
    settings = WarehouseSettings(encryption_key=key, page_rows=page_rows)
    event_log = KafkaEventLog(kafka, IngressSettings(produce_timeout_s=30))
    await event_log.start()
    assert await event_log.wait_ready(30)
    store = WarehouseStore(clickhouse)
    box = SecretBox(key)
    puller = Puller(settings, store, lambda: box, Directory, Discovery, event_log)
    source = model.Source(
        "org-bench", "src_bench", "bench", "clickhouse", model.STATUS_PUBLISHED,
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
    return rows / seconds, peak(), record


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--page-rows", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="quivly-warehouse-bench-") as work:
        work_dir = Path(work)
        with kafka_bootstrap_servers(work_dir) as servers, clickhouse_url(work_dir) as url:
            topic = f"bench_{uuid.uuid4().hex[:8]}"
            kafka = KafkaSettings(
                bootstrap_servers=servers, usage_topic=topic, dead_letter_topic=f"{topic}_dlq"
            )
            asyncio.run(provision_topics(kafka))
            clickhouse = ClickHouseSettings(url=url, database="quivly_bench")
            apply_migrations(clickhouse)
            database = "warehouse_bench"
            started = time.perf_counter()
            fill_warehouse(url, database, args.rows)
            print(f"warehouse table: {args.rows:,} rows in {time.perf_counter() - started:.1f} s")
            floor_rate, floor_peak = floor(url, database, args.rows, args.page_rows)
            rate, peak, record = asyncio.run(
                pull(clickhouse, kafka, url, database, args.rows, args.page_rows)
            )
    mib = 1024 * 1024
    print(
        f"floor  (bare read, same client, same query): {floor_rate:>10,.0f} rows/s   "
        f"peak RSS +{floor_peak / mib:.0f} MiB"
    )
    print(
        f"puller (read, validate, resolve, produce):   {rate:>10,.0f} rows/s   "
        f"peak RSS +{peak / mib:.0f} MiB   ({record.rows_written:,} written, {record.attempts} attempt)"
    )
    print(f"puller / floor: {rate / floor_rate:.2f} (goal >= 0.50); page {args.page_rows:,} rows")


if __name__ == "__main__":
    main()
