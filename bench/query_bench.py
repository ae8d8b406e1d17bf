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
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import open_bench_database
from infra.local_components import LocalClickHouse
from infra.processes import free_port, start_process, stop_process, wait_for_port
from query.search import parse_search_body
from query.settings import QuerySettings
from query.store import CountCaches, EventStore

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
    first: Callable[[int], Any],
    second: Callable[[int], Any],
    requests: int,
    warmup: int = 3,
    before_each: Callable[[], Any] = lambda: None,
) -> tuple[list[float], list[float]]:
    """Both actions alternately, request by request, so that both see the same load of the (shared,
    noisy) machine: their ratio is meaningful even when the absolute figures drift. ``before_each``
    runs (untimed) before every request."""
    for i in range(warmup):
        first(i)
        second(i)
    samples: tuple[list[float], list[float]] = ([], [])
    for i in range(requests):
        for action, into in ((first, samples[0]), (second, samples[1])):
            before_each()
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
    parser.add_argument("--requests", type=int, default=50, help="measured requests per scenario")
    parser.add_argument(
        "--scan-requests",
        type=int,
        default=10,
        help="measured first searches of a start (every partition profiled, about 1 s each at 10M)",
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
        client, api_key = open_bench_database(clickhouse.url, ORG, timeout_s=600)
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
            for table in (
                "usage_events",
                "usage_events_by_customer",
                "usage_events_by_period",
                "usage_event_locator",
            ):
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
        if args.data_dir is None:
            shutil.rmtree(work, ignore_errors=True)  # GBs at 10M; --data-dir keeps the data


def new_caches() -> CountCaches:
    """The query service's default caches (``query.settings.QuerySettings``)."""
    return CountCaches.from_settings(QuerySettings())


def new_filter_set(i: int) -> dict[str, Any]:
    """A property filter set never searched before (40 of them; 200 and 200.0 differ as requests)."""
    status = 200 + (i // 5 % 4) * 100
    return {"region": f"r{i % 5}", "status_code": status if i // 20 % 2 == 0 else float(status)}


class LatestMonthWriter:
    """Adds one new value to the organization's latest month, as streams does all the time: that
    partition's parts change, so a whole-organization search counts it again."""

    def __init__(self, client: Any) -> None:
        self._client = client
        result = client.query(
            f"SELECT * FROM usage_events WHERE org_id = '{ORG}' AND period_start = "
            f"(SELECT max(period_start) FROM usage_events WHERE org_id = '{ORG}') LIMIT 1"
        )
        self._columns = list(result.column_names)
        self._row = list(result.result_rows[0])
        self._written = 0

    def __call__(self) -> None:
        self._written += 1
        row = dict(zip(self._columns, self._row, strict=True))
        row.update(customer_id=f"cust-new-{self._written}", event_id=uuid.uuid4())
        self._client.insert("usage_events", [list(row.values())], column_names=self._columns)


def run_scenarios(client: Any, base_url: str, api_key: str, args: argparse.Namespace) -> None:
    store = EventStore(client, new_caches())
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
        # A filter set never searched before, answered by the partitions' profiles.
        "whole org, new property filter": lambda i: {
            "event_property_filters": new_filter_set(i),
            "limit": 100,
        },
        # The same while streams writes: the latest month is profiled again before every request.
        "whole org, new filter, month written": lambda i: {
            "event_property_filters": new_filter_set(i),
            "event_type": "credit",
            "limit": 100,
        },
        # Up to a year of the data, from and to in the middle of a day (partial days counted exactly).
        "whole org, a year, metric": lambda i: {
            "event_code": f"metric_{i % METRICS}",
            "created_at_from": "2020-01-01T06:00:00Z",
            "created_at_to": f"{date(2020, 1, 1) + timedelta(days=min(days, 366) - 1)}T18:00:00Z",
            "offset": 1000 * i,
            "limit": 100,
        },
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
            bodies = [make_body(i) for i in range(args.requests + 3)]
            totals: list[int] = []

            def search_http(
                i: int, bodies: list[dict[str, Any]] = bodies, totals: list[int] = totals
            ) -> None:
                response = http.post("/v1/events/search", json=bodies[i])
                assert response.status_code == 200, response.text
                totals.append(response.json()["total"])

            def search_direct(i: int, bodies: list[dict[str, Any]] = bodies) -> None:
                store.search(ORG, parse_search_body(orjson.dumps(bodies[i])))

            before_each = LatestMonthWriter(client) if "month written" in name else lambda: None
            print_row(name, *timed_pair(search_http, search_direct, args.requests, 3, before_each), totals)
        print_first_search_after_start(client, args.scan_requests)


def print_first_search_after_start(client: Any, requests: int) -> None:
    """The first whole-organization search of a new service (empty caches): every partition is
    profiled. Direct only (the HTTP service's caches cannot be emptied from here)."""
    samples: list[float] = []
    totals: list[int] = []
    for i in range(requests):
        store = EventStore(client, new_caches())
        start = time.perf_counter()
        totals.append(
            store.search(
                ORG, parse_search_body(orjson.dumps({"event_property_filters": new_filter_set(i)}))
            ).total
        )
        samples.append((time.perf_counter() - start) * 1000)
    d50, d95 = percentiles(samples)
    shown = f"{int(statistics.median(totals)):,}"
    name, none = "whole org, first search of a start", "-"
    print(f"{name:34} {none:>10} {none:>10} {d50:10.1f}ms {d95:10.1f}ms {shown:>13}", flush=True)


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
