"""Is every 503 of the push API true or honest? Load alone must give none.

Starts Tansu, the chdb endpoint and ingress (uvicorn subprocess) like ``ingress_bench.py``, then
``--clients`` clients push 1000-event requests back to back for ``--duration`` s. Every request
is unique (its serial number is in every event's properties). With ``--pause-s`` > 0 the broker
process is frozen (SIGSTOP) ``--pause-at`` s into the run for that long, then resumed (SIGCONT).
Afterwards the whole topic is read and each answer is checked against what landed:

* 200: all 1000 records of the request are on the topic;
* 503 ``outcome: not_stored`` (true): none are;
* 503 ``outcome: unknown`` (honest): any number may be; the figures are printed.

    .venv/bin/python bench/ingress_503_check.py --duration 40 --clients 8              # load only
    .venv/bin/python bench/ingress_503_check.py --duration 40 --clients 8 --pause-s 20 # paused broker
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingress_bench import BATCH, ingress_stack, register
from core.records import UsageRecord
from core.settings import KafkaSettings

SERIAL = b'"serial":0'


def body_template() -> bytes:
    events = [
        {
            "external_customer_id": f"ext-{i % 100}",
            "metric_key": f"metric_{i % 7}",
            "value": i,
            "timestamp": f"2026-06-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
            "granularity": ("hourly", "daily", "weekly", "monthly")[i % 4],
            "properties": {"serial": 0, "region": "eu-west-1"},
        }
        for i in range(BATCH)
    ]
    return orjson.dumps({"events": events})


async def push_loop(
    base: str, key: str, clients: int, duration: float, pause: tuple[int, float, float] | None
) -> dict[int, str]:
    """Answers by request serial: "200", "503 not_stored", "503 unknown" or another status."""
    template = body_template()
    answers: dict[int, str] = {}
    serials = iter(range(1, 10**9))
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    deadline = time.perf_counter() + duration

    async def client_loop(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            serial = next(serials)
            body = template.replace(SERIAL, b'"serial":%d' % serial)
            response = await client.post("/v1/usage/events", content=body, headers=headers)
            label = str(response.status_code)
            if response.status_code == 503:
                label += " " + str((response.json().get("details") or {}).get("outcome"))
            answers[serial] = label

    async def freeze_broker() -> None:
        assert pause is not None
        pid, at, seconds = pause
        await asyncio.sleep(at)
        os.kill(pid, signal.SIGSTOP)
        print(f"broker frozen at {at:.0f} s for {seconds:.0f} s")
        try:
            await asyncio.sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        tasks = [client_loop(client) for _ in range(clients)]
        if pause is not None:
            tasks.append(freeze_broker())
        await asyncio.gather(*tasks)
    return answers


async def landed_per_serial(kafka: KafkaSettings) -> collections.Counter[int]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    counts: collections.Counter[int] = collections.Counter()
    try:
        partitions = [TopicPartition(kafka.usage_topic, p) for p in range(kafka.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)

        async def behind() -> bool:
            positions = [await consumer.position(tp) for tp in partitions]
            return any(position < end[tp] for tp, position in zip(partitions, positions, strict=True))

        while await behind():
            for batch in (await consumer.getmany(timeout_ms=1000, max_records=50_000)).values():
                for record in batch:
                    properties = UsageRecord.from_bytes(record.value).properties
                    counts[orjson.loads(properties).get("serial", -1)] += 1
    finally:
        await consumer.stop()
    return counts


def report(answers: dict[int, str], landed: collections.Counter[int]) -> bool:
    by_label: dict[str, list[int]] = collections.defaultdict(list)
    for serial, label in answers.items():
        by_label[label].append(serial)
    honest = True
    for label, serials in sorted(by_label.items()):
        stored = [landed.get(serial, 0) for serial in serials]
        complete = sum(1 for n in stored if n == BATCH)
        none = sum(1 for n in stored if n == 0)
        print(
            f"  {label:<16} {len(serials):>6} requests: all {BATCH} records landed {complete}, "
            f"none {none}, partly {len(serials) - complete - none}"
        )
        if label == "200" and complete != len(serials):
            honest = False
        if label == "503 not_stored" and none != len(serials):
            honest = False
    return honest


async def run(args: argparse.Namespace) -> None:
    async with ingress_stack("503") as stack:
        base, kafka = stack.base_url, stack.kafka
        key = await register(base)
        pause = (stack.broker.process.pid, args.pause_at, args.pause_s) if args.pause_s > 0 else None
        started = time.perf_counter()
        answers = await push_loop(base, key, args.clients, args.duration, pause)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(args.settle_s)  # let anything still in flight land
        landed = await landed_per_serial(kafka)
        print(
            f"{len(answers)} requests of {BATCH} events from {args.clients} clients in {elapsed:.0f} s "
            f"({sum(1 for a in answers.values() if a == '200') * BATCH / elapsed:,.0f} accepted events/s)"
        )
        honest = report(answers, landed)
        print("every 200 and every 'not_stored' 503 is true" if honest else "DISHONEST ANSWERS (see above)")
        print(
            f"reproduce: .venv/bin/python bench/ingress_503_check.py --duration {args.duration:.0f} "
            f"--clients {args.clients} --pause-s {args.pause_s:.0f} --pause-at {args.pause_at:.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=40.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--pause-s", type=float, default=0.0, help="freeze the broker this long (0: never)")
    parser.add_argument("--pause-at", type=float, default=10.0, help="seconds into the run")
    parser.add_argument("--settle-s", type=float, default=10.0, help="wait before reading the topic")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
