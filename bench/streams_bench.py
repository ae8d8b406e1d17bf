"""Streams worker throughput and lag against a bare aiokafka → clickhouse-connect loop (the floor).

Starts the real local components (Tansu, the chdb endpoint), pre-loads the usage topic with
``--records`` records over ``--keys`` replace keys (bare aiokafka producer), then on the same data:

1. floor: a bare aiokafka consumer decodes every record and inserts the rows in batches of
   ``--batch`` with clickhouse-connect (no state, no versions, no commits): records/s. It does
   the same writes as the worker, the cheapest way: rows of plain ints (``streams.rows``), one
   column-oriented insert per batch into ``usage_event_history`` through a reusable insert
   context; the materialized view of migration 0040 copies them into ``usage_events``;
2. worker: one streams worker (subprocess, default settings) drains the topic into its own
   database: records/s from its first visible row to the last, and from its start;
3. steady load: ``--rate`` records/s for ``--seconds`` s into the running worker; lag of each
   record = first time a query sees it minus the time it was produced (p50/p99/max).

    .venv/bin/python bench/streams_bench.py --records 200000 --keys 20000
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.clickhouse import make_client
from core.names import USAGE_EVENT_HISTORY
from core.records import UsageRecord
from core.settings import ClickHouseSettings, KafkaSettings
from infra.local_components import LocalBroker, LocalClickHouse
from infra.migrate import apply_migrations
from infra.processes import free_port, start_process, stop_process
from infra.topics import provision_topics
from streams.rows import COLUMNS, build_row, event_id_int, to_columns
from streams.versioning import KeyState

GRANULARITIES = ("hourly", "daily", "weekly", "monthly")


def make_record(i: int, keys: int, now_us: int) -> UsageRecord:
    k = i % keys
    return UsageRecord(
        org_id=f"org-{k % 10}",
        customer_id=f"cust-{k // 40}",
        external_customer_id=f"ext-{k // 40}",
        metric_key=f"metric-{k % 10}",
        granularity=GRANULARITIES[k % 4],
        period_start="2026-11-01T00:00:00Z",
        value=float(i),
        event_type="credit",
        created_at_us=now_us,
        ingested_at_us=now_us,
        properties='{"bench":true}',
    )


async def preload(kafka: KafkaSettings, count: int, keys: int) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all", linger_ms=20)
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        base = time.time_ns() // 1000
        for i in range(count):
            record = make_record(i, keys, base + i)
            pending.append(
                await producer.send(kafka.usage_topic, record.to_bytes(), key=record.key.to_bytes())
            )
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return count / (time.perf_counter() - started)


async def floor_loop(kafka: KafkaSettings, clickhouse: ClickHouseSettings, count: int, batch: int) -> float:
    """Decode + insert in batches, nothing else: the cost any Kafka → ClickHouse loop pays."""
    client = make_client(clickhouse)
    context = client.create_insert_context(
        USAGE_EVENT_HISTORY, column_names=list(COLUMNS), column_oriented=True
    )
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    partitions = [TopicPartition(kafka.usage_topic, p) for p in range(kafka.partitions)]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    started, seen, rows = time.perf_counter(), 0, []
    try:
        while seen < count:
            fetched = await consumer.getmany(timeout_ms=500, max_records=batch)
            for messages in fetched.values():
                for message in messages:
                    record = UsageRecord.from_bytes(message.value or b"")
                    state = KeyState(
                        record.ingested_at_us, message.partition, message.offset, record.ingested_at_us
                    )
                    rows.append(build_row(record, state, event_id_int(message.key or b"")))
            seen += sum(len(m) for m in fetched.values())
            if len(rows) >= batch or (seen >= count and rows):
                await asyncio.to_thread(client.insert, data=to_columns(rows), context=context)
                rows = []
    finally:
        await consumer.stop()
        client.close()
    return count / (time.perf_counter() - started)


def history_count(clickhouse: ClickHouseSettings) -> int:
    client = make_client(clickhouse)
    try:
        return int(client.query(f"SELECT count() FROM {USAGE_EVENT_HISTORY}").result_rows[0][0])
    finally:
        client.close()


def drain_with_worker(
    kafka: KafkaSettings, clickhouse: ClickHouseSettings, count: int, work: Path, extra_env: dict[str, str]
) -> tuple[float, float, object]:
    env = {
        "QUIVLY_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "QUIVLY_KAFKA_USAGE_TOPIC": kafka.usage_topic,
        "QUIVLY_KAFKA_DEAD_LETTER_TOPIC": kafka.dead_letter_topic,
        "QUIVLY_KAFKA_PARTITIONS": str(kafka.partitions),
        "QUIVLY_CLICKHOUSE_URL": clickhouse.url,
        "QUIVLY_CLICKHOUSE_DATABASE": clickhouse.database,
        "QUIVLY_STREAMS_APP_ID": f"bench-{uuid.uuid4().hex[:6]}",
        "QUIVLY_STREAMS_DATA_DIR": str(work / "worker-state"),
        "QUIVLY_STREAMS_WEB_PORT": str(free_port()),
        "QUIVLY_STREAMS_LOG_LEVEL": "warning",
        **extra_env,
    }
    started = time.perf_counter()
    process = start_process([sys.executable, "-m", "streams.main"], work / "worker.log", env=env)
    first = None
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited; see {work / 'worker.log'}")
        seen = history_count(clickhouse)
        now = time.perf_counter()
        if seen and first is None:
            first = now
        if seen >= count:
            break
        time.sleep(0.25)
    assert first is not None
    return count / (now - first), count / (now - started), process


async def steady(
    kafka: KafkaSettings, clickhouse: ClickHouseSettings, keys: int, rate: int, seconds: float
) -> list[float]:
    """Produces at ``rate`` and polls, per partition, the newest visible ``ingested_at``."""
    sent: list[tuple[int, int]] = []  # (partition, ingested_at_us == produce time)
    visible_at: dict[int, list[tuple[int, int]]] = {}
    stop = threading.Event()

    def poll() -> None:
        client = make_client(clickhouse)
        sql = (
            f"SELECT source_partition, max(toUnixTimestamp64Micro(ingested_at)) FROM {USAGE_EVENT_HISTORY} "
            "GROUP BY source_partition"
        )
        while not stop.is_set():
            now_us = time.time_ns() // 1000
            for partition, newest in client.query(sql).result_rows:
                visible_at.setdefault(int(partition), []).append((now_us, int(newest)))
            time.sleep(0.05)
        client.close()

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        total = int(rate * seconds)
        start, pending = time.perf_counter(), []
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            now_us = time.time_ns() // 1000
            record = make_record(i, keys, now_us)
            future = await producer.send(kafka.usage_topic, record.to_bytes(), key=record.key.to_bytes())
            pending.append((future, now_us))
        for future, now_us in pending:
            metadata = await future
            sent.append((metadata.partition, now_us))
    finally:
        await producer.stop()
    deadline = time.monotonic() + 60
    newest_sent: dict[int, int] = {}
    for partition, produced_us in sent:
        newest_sent[partition] = max(produced_us, newest_sent.get(partition, 0))
    while time.monotonic() < deadline:
        if all(visible_at.get(p) and visible_at[p][-1][1] >= t for p, t in newest_sent.items()):
            break
        await asyncio.sleep(0.2)
    stop.set()
    poller.join()
    return lags_of(sent, visible_at)


def lags_of(sent: list[tuple[int, int]], visible_at: dict[int, list[tuple[int, int]]]) -> list[float]:
    """Lag of each record: the first poll whose newest visible ``ingested_at`` reached it."""
    newest = {partition: [n for _, n in polls] for partition, polls in visible_at.items()}
    lags = []
    for partition, produced_us in sent:
        index = bisect.bisect_left(newest.get(partition, []), produced_us)
        if index < len(newest.get(partition, [])):
            lags.append((visible_at[partition][index][0] - produced_us) / 1e6)
    return lags


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--batch", type=int, default=10_000, help="floor loop insert batch")
    parser.add_argument("--rate", type=int, default=5_000, help="steady phase records/s (0 skips it)")
    parser.add_argument("--seconds", type=float, default=20.0, help="steady phase duration")
    parser.add_argument(
        "--env", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="worker environment"
    )
    parser.add_argument("--work-dir", default="", help="keep logs and data here instead of a temp dir")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="streams-bench-") as tmp:
        work = Path(args.work_dir) if args.work_dir else Path(tmp)
        broker = LocalBroker.start(work / "tansu.log")
        server = LocalClickHouse.start(work / "chdb", work / "chdb.log")
        worker = None
        try:
            kafka = KafkaSettings(
                bootstrap_servers=broker.bootstrap_servers,
                usage_topic="bench-usage",
                dead_letter_topic="bench-usage-dlq",
                partitions=args.partitions,
            )
            asyncio.run(provision_topics(kafka))
            floor_db = ClickHouseSettings(url=server.url, database="bench_floor")
            worker_db = ClickHouseSettings(url=server.url, database="bench_worker")
            apply_migrations(floor_db)
            apply_migrations(worker_db)

            produce_rate = asyncio.run(preload(kafka, args.records, args.keys))
            print(f"preloaded {args.records} records over {args.keys} keys at {produce_rate:,.0f} rec/s")
            floor = asyncio.run(floor_loop(kafka, floor_db, args.records, args.batch))
            print(f"floor (bare aiokafka + clickhouse-connect, batches of {args.batch}): {floor:,.0f} rec/s")
            drain, with_start, worker = drain_with_worker(
                kafka, worker_db, args.records, work, dict(args.env)
            )
            print(
                f"worker drain: {drain:,.0f} rec/s ({with_start:,.0f} rec/s including start-up), "
                f"{drain / floor:.0%} of the floor"
            )
            if args.rate:
                lags = asyncio.run(steady(kafka, worker_db, args.keys, args.rate, args.seconds))
                p50, p99 = statistics.median(lags), percentile(lags, 0.99)
                print(
                    f"steady {args.rate} rec/s for {args.seconds:.0f} s: lag p50 {p50:.2f} s, "
                    f"p99 {p99:.2f} s, max {max(lags):.2f} s ({len(lags)} records measured)"
                )
            print("reproduce: .venv/bin/python bench/streams_bench.py " + " ".join(sys.argv[1:]))
        finally:
            if worker is not None:
                stop_process(worker)  # type: ignore[arg-type]
            server.stop()
            broker.stop()


if __name__ == "__main__":
    main()
