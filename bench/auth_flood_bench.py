"""A flood of unknown API keys against the query service: what it costs a legitimate client.

Starts the local ClickHouse endpoint (chdb) and the query service (uvicorn), stores a small
organization (100,000 values), then measures a legitimate client's fetch by ID alone (the floor)
and while other clients send requests with random keys as fast as they can. Unknown keys are
refused from the service's index of key hashes (read at most once per 2 s), so the flood should
cost no ClickHouse lookup per key.

    .venv/bin/python bench/auth_flood_bench.py
    .venv/bin/python bench/auth_flood_bench.py --requests 300 --flooders 8
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import open_bench_database
from bench.query_bench import ORG, load
from infra.local_components import LocalClickHouse
from infra.processes import free_port, start_process, stop_process, wait_for_port


def fetch_latencies(base_url: str, api_key: str, event_id: str, requests: int) -> list[float]:
    samples = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}) as http:
        for _ in range(requests):
            started = time.perf_counter()
            assert http.get(f"/v1/events/{event_id}").status_code == 200
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def flood(base_url: str, stop: threading.Event, counts: list[int]) -> None:
    with httpx.Client(base_url=base_url) as http:
        while not stop.is_set():
            key = "qvk_" + secrets.token_urlsafe(24)
            response = http.post("/v1/events/search", headers={"Authorization": f"Bearer {key}"}, json={})
            assert response.status_code == 401
            counts.append(1)


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {statistics.median(ordered):6.1f} ms   p95 {p95:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200, help="legitimate fetches per phase")
    parser.add_argument("--flooders", type=int, default=8, help="concurrent clients sending random keys")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="quivly-auth-bench-"))
    clickhouse = LocalClickHouse.start(work / "chdb", work / "chdb.log")
    service = None
    try:
        client, api_key = open_bench_database(clickhouse.url, ORG)
        load(client, ORG, 100_000, 7919)
        event_id = str(
            client.command(f"SELECT toString(event_id) FROM usage_events WHERE org_id = '{ORG}' LIMIT 1")
        )
        port = free_port()
        env = {"QUIVLY_CLICKHOUSE_URL": clickhouse.url, "QUIVLY_CLICKHOUSE_DATABASE": "quivly_bench"}
        command = [sys.executable, "-m", "infra.cli", "serve-query", "--port", str(port)]
        service = start_process(command, work / "query.log", env=env)
        wait_for_port(port, timeout_s=30, process=service)
        base_url = f"http://127.0.0.1:{port}"
        fetch_latencies(base_url, api_key, event_id, 20)  # warm-up
        alone = fetch_latencies(base_url, api_key, event_id, args.requests)
        stop, counts = threading.Event(), []
        flooders = [
            threading.Thread(target=flood, args=(base_url, stop, counts), daemon=True)
            for _ in range(args.flooders)
        ]
        for thread in flooders:
            thread.start()
        time.sleep(1)
        started, before = time.perf_counter(), len(counts)
        flooded = fetch_latencies(base_url, api_key, event_id, args.requests)
        rate = (len(counts) - before) / (time.perf_counter() - started)
        stop.set()
        for thread in flooders:
            thread.join(timeout=10)
        print(f"legitimate fetch alone (floor):           {summary(alone)}")
        print(
            f"legitimate fetch during the flood:        {summary(flooded)}"
            f"   ({rate:,.0f} unknown keys/s refused)"
        )
        print(
            "\nreproduce: .venv/bin/python bench/auth_flood_bench.py "
            f"--requests {args.requests} --flooders {args.flooders}"
        )
    finally:
        if service is not None:
            stop_process(service)
        clickhouse.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
