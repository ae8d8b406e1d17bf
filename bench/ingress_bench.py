"""Ingress throughput and latency against a bare aiokafka producer (same broker, same records).

Starts the real local components (Tansu, the chdb endpoint), runs ingress with uvicorn in a
subprocess, registers an organization through the admin API, then:

1. closed loop: ``--clients`` concurrent clients push 1000-event batches for ``--duration`` s
   (accepted events/s, latency p50/p99);
2. floor: a bare aiokafka producer (same settings) sends the same records from as many tasks;
3. open loop at half the measured ingress throughput: request latency p50/p99.

    .venv/bin/python bench/ingress_bench.py --duration 10 --clients 8 --workers 1
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.settings import ClickHouseSettings, KafkaSettings
from infra.local_components import LocalBroker, LocalClickHouse
from infra.migrate import apply_migrations
from infra.processes import free_port, start_process, stop_process, wait_for_port
from infra.topics import provision_topics
from ingress.push.report import plan_push
from ingress.push.validation import validate_body

ADMIN_TOKEN = "bench-admin-token"
CUSTOMERS = 100
BATCH = 1000


def build_body() -> bytes:
    start = datetime(2026, 6, 1, tzinfo=UTC)
    events = [
        {
            "external_customer_id": f"ext-{i % CUSTOMERS}",
            "metric_key": f"metric_{i % 7}",
            "value": i * 1.5,
            "timestamp": (start + timedelta(minutes=17 * i)).isoformat().replace("+00:00", "Z"),
            "granularity": ("hourly", "daily", "weekly", "monthly")[i % 4],
            "properties": {"region": "eu-west-1", "status_code": 200, "request": i},
        }
        for i in range(BATCH)
    ]
    return orjson.dumps({"events": events})


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else float("nan")


async def register(base: str) -> str:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=base, headers=admin, timeout=30) as client:
        org = (await client.post("/admin/v1/orgs", json={"name": "Bench"})).json()["org_id"]
        key = (await client.post(f"/admin/v1/orgs/{org}/api-key")).json()["api_key"]
        customers = [
            {
                "customer_id": f"cust-{i}",
                "name": f"C{i}",
                "external_ids": [{"source": "salesforce", "id": f"ext-{i}"}],
            }
            for i in range(CUSTOMERS)
        ]
        (
            await client.put(f"/admin/v1/orgs/{org}/customers", json={"customers": customers})
        ).raise_for_status()
        (
            await client.post(f"/admin/v1/orgs/{org}/configuration", json={"source": "push_api"})
        ).raise_for_status()
        (await client.post(f"/admin/v1/orgs/{org}/configuration/publish")).raise_for_status()
    probe = orjson.dumps({"events": [{"external_customer_id": "ext-0", "metric_key": "probe", "value": 1}]})
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for _ in range(200):
            response = await client.post(
                "/v1/usage/events", content=probe, headers={"Authorization": f"Bearer {key}"}
            )
            if response.status_code == 200 and response.json()["mode"] == "live":
                return key
            await asyncio.sleep(0.1)
    raise RuntimeError("organization never became live")


async def closed_loop(
    base: str, key: str, body: bytes, clients: int, duration: float
) -> tuple[int, list[float]]:
    latencies: list[float] = []
    accepted = 0
    deadline = time.perf_counter() + duration
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.post("/v1/usage/events", content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code == 200:
                accepted += response.json()["inserted"]

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return int(accepted / elapsed), latencies


async def open_loop(base: str, key: str, body: bytes, rate_rps: float, duration: float) -> list[float]:
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(
        base_url=base, timeout=60, limits=httpx.Limits(max_connections=64)
    ) as client:

        async def one() -> None:
            started = time.perf_counter()
            await client.post("/v1/usage/events", content=body, headers=headers)
            latencies.append(time.perf_counter() - started)

        tasks = []
        start = time.perf_counter()
        count = int(rate_rps * duration)
        for i in range(count):
            delay = start + i / rate_rps - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return latencies


async def bare_producer(
    kafka: KafkaSettings, records: list[tuple[bytes, bytes]], tasks: int, duration: float
) -> int:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, acks="all", linger_ms=2, max_batch_size=1024 * 1024
    )
    await producer.start()
    sent = 0
    deadline = time.perf_counter() + duration

    async def loop() -> None:
        nonlocal sent
        while time.perf_counter() < deadline:
            futures = [await producer.send(kafka.usage_topic, value, key=key) for key, value in records]
            await asyncio.gather(*futures)
            sent += len(records)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(tasks)))
        return int(sent / (time.perf_counter() - started))
    finally:
        await producer.stop()


def bench_records(body: bytes) -> list[tuple[bytes, bytes]]:
    events = validate_body(body)
    plan = plan_push(
        "bench-org", events, lambda _o, ext: "cust-" + ext.split("-")[1], True, datetime.now(UTC)
    )
    return plan.records


@dataclass
class IngressStack:
    broker: LocalBroker
    kafka: KafkaSettings
    base_url: str


@asynccontextmanager
async def ingress_stack(name: str, workers: int = 1) -> AsyncIterator[IngressStack]:
    """Tansu, the chdb endpoint and ``serve-ingress`` (no rate limit) in a temporary directory,
    with the usage topic and database named after ``name``."""
    work = Path(tempfile.mkdtemp(prefix=f"quivly-{name}-"))
    broker = LocalBroker.start(work / "tansu.log")
    clickhouse = LocalClickHouse.start(work / "clickhouse", work / "chdb.log")
    ingress = None
    try:
        kafka = KafkaSettings(
            bootstrap_servers=broker.bootstrap_servers, usage_topic=f"usage-{name}", partitions=6
        )
        ch = ClickHouseSettings(url=clickhouse.url, database=f"quivly_{name}")
        apply_migrations(ch)
        await provision_topics(kafka)
        port = free_port()
        env = {
            "QUIVLY_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "QUIVLY_KAFKA_USAGE_TOPIC": kafka.usage_topic,
            "QUIVLY_CLICKHOUSE_URL": ch.url,
            "QUIVLY_CLICKHOUSE_DATABASE": ch.database,
            "QUIVLY_ADMIN_TOKEN": ADMIN_TOKEN,
            "QUIVLY_INGRESS_RATE_LIMIT_PER_MINUTE": "100000000",
        }
        command = [sys.executable, "-m", "infra.cli", "serve-ingress", "--port", str(port)]
        command += ["--workers", str(workers)]
        ingress = start_process(command, work / "ingress.log", env=env)
        wait_for_port(port, timeout_s=60, process=ingress)
        yield IngressStack(broker, kafka, f"http://127.0.0.1:{port}")
    finally:
        if ingress is not None:
            stop_process(ingress)
        clickhouse.stop()
        broker.stop()


async def run(args: argparse.Namespace) -> None:
    async with ingress_stack("bench", args.workers) as stack:
        base, kafka = stack.base_url, stack.kafka
        key = await register(base)
        body = build_body()
        await closed_loop(base, key, body, args.clients, 2.0)  # warm-up
        throughput, latencies = await closed_loop(base, key, body, args.clients, args.duration)
        floor = await bare_producer(kafka, bench_records(body), args.clients, args.duration)
        half_rate = throughput / 2 / BATCH
        paced = await open_loop(base, key, body, half_rate, args.duration)
        print(
            f"ingress (workers={args.workers}, clients={args.clients}, "
            f"{args.duration:.0f} s, 1000-event requests)"
        )
        print(f"  accepted events/s         {throughput:>10,}")
        print(
            f"  latency p50 / p99         {percentile(latencies, 0.5):7.1f} / "
            f"{percentile(latencies, 0.99):7.1f} ms"
        )
        print(f"bare aiokafka producer      {floor:>10,} events/s  (same broker, same records)")
        print(f"  ingress / bare            {throughput / floor:10.2f}")
        print(f"open loop at half max ({half_rate:.1f} req/s = {int(half_rate * BATCH):,} events/s)")
        print(
            f"  latency p50 / p99         {percentile(paced, 0.5):7.1f} / {percentile(paced, 0.99):7.1f} ms"
            f"   (mean {statistics.mean(paced) * 1000:.1f} ms, n={len(paced)})"
        )
        print(
            f"reproduce: .venv/bin/python bench/ingress_bench.py --duration {args.duration:.0f} "
            f"--clients {args.clients} --workers {args.workers}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
