"""Benchmark of the query service: fetch by ID and searches over N stored events.

Starts the local ClickHouse endpoint (chdb) and the query service (uvicorn), loads N events for
one organization plus other organizations' data with ``INSERT ... SELECT FROM numbers()``, then
measures each request through HTTP and the same SQL issued directly with clickhouse-connect.

    .venv/bin/python bench/query_bench.py                  # 10 million events
    .venv/bin/python bench/query_bench.py --events 1000000 --requests 30
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.api_keys import generate_api_key, hash_api_key
from core.clickhouse import make_client
from core.settings import ClickHouseSettings
from infra.local_components import LocalClickHouse
from infra.migrate import apply_migrations
from infra.processes import free_port, start_process, stop_process, wait_for_port
from query.count_cache import PartitionCountCache
from query.search import parse_search_body
from query.store import EventStore

ORG = "org-bench"
CUSTOMERS = 1000
METRICS = 10


def load(client: Any, org: str, events: int, seed: int) -> None:
    """``events`` daily values: CUSTOMERS customers x METRICS metrics x events/(C*M) days."""
    per_day = CUSTOMERS * METRICS
    client.command(
        f"""
        INSERT INTO usage_events
        SELECT '{org}', concat('cust-', toString(n % {CUSTOMERS})),
               concat('metric_', toString(intDiv(n, {CUSTOMERS}) % {METRICS})),
               'daily', toDateTime('2020-01-01 00:00:00', 'UTC') + toIntervalDay(intDiv(n, {per_day})),
               reinterpretAsUUID(sipHash128('{org}', n)), concat('ext-', toString(n % {CUSTOMERS})),
               if(n % 10 = 0, 'debit', 'credit'), toFloat64(n % 1000),
               toDateTime64(toDateTime('2020-01-01 00:00:00', 'UTC') + toIntervalDay(intDiv(n, {per_day}))
                            + toIntervalSecond((n * {seed}) % 86400), 6, 'UTC'),
               concat('{{"region":"r', toString(n % 5),
                      '","status_code":', toString(200 + (intDiv(n, {CUSTOMERS}) % 4) * 100), '}}'),
               now64(6), 1, 0, n
        FROM (SELECT number AS n FROM numbers({events}))
        SETTINGS max_insert_threads = 2
        """
    )


def replace_some(client: Any, org: str, every: int, latest_month_only: bool = False) -> None:
    """A second, unmerged version for every ``every``-th value (exercises the replace on read); with
    ``latest_month_only`` only values of the latest month (re-sent open periods, the usual case)."""
    latest = (
        f"AND toYYYYMM(period_start) = (SELECT max(toYYYYMM(period_start)) FROM usage_events "
        f"WHERE org_id = '{org}')"
        if latest_month_only
        else ""
    )
    client.command(
        f"""
        INSERT INTO usage_events
        SELECT org_id, customer_id, metric_key, granularity, period_start, event_id, external_customer_id,
               event_type, value + 1, created_at, properties, now64(6), version + 1, 0, source_offset
        FROM usage_events FINAL WHERE org_id = '{org}' AND source_offset % {every} = 0 {latest}
        """
    )


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def timed_pair(
    first: Callable[[int], Any], second: Callable[[int], Any], requests: int, warmup: int = 3
) -> tuple[list[float], list[float]]:
    """Both actions alternately, request by request, so that both see the same load of the (shared,
    noisy) machine: their ratio is meaningful even when the absolute figures drift."""
    for i in range(warmup):
        first(i)
        second(i)
    samples: tuple[list[float], list[float]] = ([], [])
    for i in range(requests):
        for action, into in ((first, samples[0]), (second, samples[1])):
            start = time.perf_counter()
            action(i + warmup)
            into.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--events", type=int, default=10_000_000, help="events of the benchmarked organization"
    )
    parser.add_argument(
        "--other-events", type=int, default=None, help="events of other orgs (default events/5)"
    )
    parser.add_argument("--requests", type=int, default=50, help="measured requests per selective scenario")
    parser.add_argument(
        "--scan-requests",
        type=int,
        default=10,
        help="measured requests of the cold whole-organization scenario",
    )
    parser.add_argument(
        "--merged",
        action="store_true",
        help="merge the table (OPTIMIZE FINAL) before measuring, then add fresh unmerged versions",
    )
    parser.add_argument(
        "--fresh-latest-month",
        action="store_true",
        help="with --merged: the fresh versions are 10%% of the latest month's values (default: 1%% "
        "of every month's, the worst case for FINAL)",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="chdb data directory (default: a temp dir)"
    )
    args = parser.parse_args()
    other = args.events // 5 if args.other_events is None else args.other_events
    work = args.data_dir or Path(tempfile.mkdtemp(prefix="quivly-query-bench-"))

    clickhouse = LocalClickHouse.start(work / "chdb", work / "chdb.log")
    service = None
    try:
        settings = ClickHouseSettings(url=clickhouse.url, database="quivly_bench", send_receive_timeout_s=600)
        apply_migrations(settings)
        client = make_client(settings)
        api_key = generate_api_key()
        client.insert(
            "api_keys",
            [[ORG, hash_api_key(api_key), api_key[:8], time.time_ns()]],
            column_names=["org_id", "key_hash", "key_prefix", "version"],
        )
        started = time.perf_counter()
        if client.command(f"SELECT count() FROM usage_events WHERE org_id = '{ORG}'") == 0:
            load(client, ORG, args.events, 7919)
            for index in range(2):
                load(client, f"org-other-{index}", other // 2, 104729)
            replace_some(client, ORG, 100)
            client.command(
                "INSERT INTO customer_external_ids (org_id, external_id, source, customer_id, version) "
                f"SELECT '{ORG}', concat('ext-', toString(number)), 'salesforce', "
                f"concat('cust-', toString(number)), 1 FROM numbers({CUSTOMERS})"
            )
        if args.merged:
            for table in ("usage_events", "usage_events_by_customer", "usage_event_locator"):
                client.command(f"OPTIMIZE TABLE {table} FINAL")
            if args.fresh_latest_month:
                replace_some(client, ORG, 10, latest_month_only=True)
            else:
                replace_some(client, ORG, 100)
        load_s = time.perf_counter() - started
        parts = client.command(
            "SELECT count() FROM system.parts WHERE database = 'quivly_bench' AND active "
            "AND table = 'usage_events'"
        )
        fresh = "10% of the latest month" if args.merged and args.fresh_latest_month else "1% of every month"
        print(
            f"loaded {args.events:,} events (+{other:,} of other orgs; fresh unmerged versions: {fresh}) "
            f"in {load_s:.1f} s; {parts} parts"
        )

        port = free_port()
        env = {"QUIVLY_CLICKHOUSE_URL": clickhouse.url, "QUIVLY_CLICKHOUSE_DATABASE": "quivly_bench"}
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "query.main:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        service = start_process(command, work / "query.log", env=env)
        wait_for_port(port, timeout_s=30, process=service)
        run_scenarios(client, f"http://127.0.0.1:{port}", api_key, args)
        print(
            "\nreproduce: .venv/bin/python bench/query_bench.py "
            f"--events {args.events} --requests {args.requests} --scan-requests {args.scan_requests}"
            + (" --merged" if args.merged else "")
            + (" --fresh-latest-month" if args.fresh_latest_month else "")
        )
    finally:
        if service is not None:
            stop_process(service)
        clickhouse.stop()


def run_scenarios(client: Any, base_url: str, api_key: str, args: argparse.Namespace) -> None:
    store = EventStore(client, PartitionCountCache(max_entries=100_000))
    rng = random.Random(1)
    ids = [
        str(row[0])
        for row in client.query(
            f"SELECT event_id FROM usage_events WHERE org_id = '{ORG}' "
            f"ORDER BY rand() LIMIT {args.requests + 10}"
        ).result_rows
    ]
    days = max(1, args.events // (CUSTOMERS * METRICS))
    searches: dict[str, Callable[[int], dict[str, Any]]] = {
        "search by customer": lambda i: {"customer_id": f"cust-{rng.randrange(CUSTOMERS)}"},
        "search by external id + metric": lambda i: {
            "external_customer_id": f"ext-{rng.randrange(CUSTOMERS)}",
            "event_code": "metric_3",
        },
        "search customer + property": lambda i: {
            "customer_id": f"cust-{rng.randrange(CUSTOMERS)}",
            "event_property_filters": {"status_code": 300},
        },
        "search metric + time range": lambda i: {
            "event_code": f"metric_{rng.randrange(METRICS)}",
            "created_at_from": f"2020-01-{1 + i % min(days, 20):02d}T00:00:00Z",
            "created_at_to": f"2020-01-{2 + i % min(days, 20):02d}T12:00:00Z",
        },
        # A filter set never searched before: every partition is counted (cold count cache).
        "whole org, new property filter": lambda i: {
            "event_property_filters": {"region": f"r{i % 5}", "status_code": 200 + (i // 5 % 4) * 100},
            "limit": 100,
        },
        # The pages after the first one of a search (partition counts come from the count cache).
        "whole org, property, next pages": lambda i: {
            "event_property_filters": {"region": "r1"},
            "limit": 100,
            "offset": 100 * i,
        },
        "whole org, deep offset": lambda i: {"offset": args.events // 2 + i, "limit": 100},
    }
    headers = {"Authorization": f"Bearer {api_key}"}
    print(HEADER)
    with httpx.Client(base_url=base_url, headers=headers, timeout=300) as http:

        def fetch_http(i: int) -> None:
            response = http.get(f"/v1/events/{ids[i % len(ids)]}")
            assert response.status_code == 200, response.text

        def fetch_direct(i: int) -> None:
            assert store.fetch(ORG, ids[i % len(ids)]) is not None

        print_row("fetch by id", *timed_pair(fetch_http, fetch_direct, args.requests), [])
        for name, make_body in searches.items():
            cold = "new property filter" in name  # each request counts every partition
            count, warmup = (args.scan_requests, 1) if cold else (args.requests, 3)
            bodies = [make_body(i) for i in range(count + warmup)]
            totals: list[int] = []

            def search_http(
                i: int, bodies: list[dict[str, Any]] = bodies, totals: list[int] = totals
            ) -> None:
                response = http.post("/v1/events/search", json=bodies[i])
                assert response.status_code == 200, response.text
                totals.append(response.json()["total"])

            def search_direct(i: int, bodies: list[dict[str, Any]] = bodies) -> None:
                store.search(ORG, parse_search_body(orjson.dumps(bodies[i])))

            print_row(name, *timed_pair(search_http, search_direct, count, warmup), totals)


HEADER = (
    f"\n{'scenario':34} {'HTTP p50':>9} {'HTTP p95':>9} {'direct p50':>11} {'direct p95':>11} "
    f"{'median total':>13}"
)


def print_row(name: str, http_ms: list[float], direct_ms: list[float], totals: list[int]) -> None:
    h50, h95 = percentiles(http_ms)
    d50, d95 = percentiles(direct_ms)
    shown = f"{int(statistics.median(totals)):,}" if totals else "-"
    print(f"{name:34} {h50:8.1f}ms {h95:8.1f}ms {d50:10.1f}ms {d95:10.1f}ms {shown:>13}", flush=True)


if __name__ == "__main__":
    main()
