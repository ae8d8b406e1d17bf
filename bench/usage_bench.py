"""Benchmark of ``POST /v1/usage/query`` over N stored daily values.

Starts the local ClickHouse endpoint (chdb) and the query service (uvicorn), loads N daily values
for one organization (1,000 customers x 10 metrics x N/10,000 days from 2024-01-01, 1 % of them
replaced by a second version that is not merged), hourly values for 200 customers over
October-November 2025, and other organizations' data, with ``INSERT ... SELECT FROM numbers()``.
Then measures each scenario through HTTP and, alternately in the same run, its SQL issued directly
with clickhouse-connect (the same statements, the floor), with the CPU time ClickHouse and the query
service spent per request (what a request costs, whatever else loads the machine), three times:
before any monthly summary exists (every month read from the daily values), after the streams
worker's refresher summarized every month (timed), and after a write to two months (2025-12 and the
data's last month) since their summary, which are then read from the daily values.

    .venv/bin/python bench/usage_bench.py                      # 10 million daily values
    .venv/bin/python bench/usage_bench.py --values 1000000 --requests 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import open_bench_database
from core.names import USAGE_EVENTS, USAGE_EVENTS_BY_CUSTOMER, USAGE_EVENTS_BY_METRIC
from core.runtime import tune_process
from core.usage_rollup import RecentContexts, Statement, run_usage_query, validate_usage_query
from infra.local_components import LocalClickHouse
from infra.processes import free_port, start_process, stop_process, wait_for_port
from streams.summary import SummaryRefresher

ORG = "org-bench"
CUSTOMERS = 1000
METRICS = 10
HOURLY_CUSTOMERS = 200
HOURLY_START = "2025-10-01 00:00:00"
HOURLY_HOURS = 61 * 24  # October and November 2025 (the end of summer time included)


def load_daily(client: Any, org: str, values: int) -> None:
    """``values`` daily values: CUSTOMERS customers x METRICS metrics x values/(C*M) days."""
    per_day = CUSTOMERS * METRICS
    client.command(
        f"""
        INSERT INTO usage_events
        SELECT '{org}', concat('cust-', toString(n % {CUSTOMERS})),
               concat('metric_', toString(intDiv(n, {CUSTOMERS}) % {METRICS})),
               'daily', toDateTime('2024-01-01 00:00:00', 'UTC') + toIntervalDay(intDiv(n, {per_day})),
               reinterpretAsUUID(sipHash128('{org}', n)), concat('ext-', toString(n % {CUSTOMERS})),
               'credit', toFloat64(n % 1000),
               toDateTime64(toDateTime('2024-01-01 00:00:00', 'UTC')
                            + toIntervalDay(intDiv(n, {per_day})), 6, 'UTC'),
               concat('{{"plan":"p', toString(n % 3), '","region":"r', toString(intDiv(n, 7) % 5), '"}}'),
               now64(6), 1, 0, n
        FROM (SELECT number AS n FROM numbers({values}))
        SETTINGS max_insert_threads = 2
        """
    )


def load_hourly(client: Any, org: str) -> None:
    """Hourly values of one metric for HOURLY_CUSTOMERS customers over two months."""
    client.command(
        f"""
        INSERT INTO usage_events
        SELECT '{org}', concat('cust-', toString(n % {HOURLY_CUSTOMERS})), 'metric_hourly', 'hourly',
               toDateTime('{HOURLY_START}', 'UTC') + toIntervalHour(intDiv(n, {HOURLY_CUSTOMERS})),
               reinterpretAsUUID(sipHash128('{org}-hourly', n)),
               concat('ext-', toString(n % {HOURLY_CUSTOMERS})), 'credit', toFloat64(n % 100),
               toDateTime64(toDateTime('{HOURLY_START}', 'UTC')
                            + toIntervalHour(intDiv(n, {HOURLY_CUSTOMERS})), 6, 'UTC'),
               '{{}}', now64(6), 1, 0, n
        FROM (SELECT number AS n FROM numbers({HOURLY_CUSTOMERS * HOURLY_HOURS}))
        """
    )


def replace_some(client: Any, org: str, every: int, remainder: int = 0, months: Sequence[str] = ()) -> None:
    """A newer, unmerged version (a new value) of every ``every``-th value of ``org`` (offsets of
    that ``remainder``), only in ``months`` (YYYY-MM) when given."""
    in_months = ""
    if months:
        starts = ", ".join(f"toDateTime('{month}-01 00:00:00', 'UTC')" for month in months)
        in_months = f"AND toStartOfMonth(period_start) IN ({starts})"
    client.command(
        f"""
        INSERT INTO usage_events
        SELECT org_id, customer_id, metric_key, granularity, period_start, event_id, external_customer_id,
               event_type, value + 1, created_at, properties, now64(6), version + 1, 0, source_offset
        FROM usage_events FINAL
        WHERE org_id = '{org}' AND source_offset % {every} = {remainder} {in_months}
        """
    )


def scenarios(days: int) -> dict[str, Callable[[int], dict[str, Any]]]:
    """The issue's scenarios; ``i`` varies the customer or metric from request to request."""
    last_year = 2024 + max(0, min(days // 365 - 1, 2))
    year = {"from": f"{last_year}-01-01T00:00:00Z", "to": f"{last_year + 1}-01-01T00:00:00Z"}
    return {
        "one customer, all metrics, a year by month": lambda i: {
            **year,
            "customer_ids": [f"cust-{i * 37 % CUSTOMERS}"],
        },
        "one metric, 1,000 customers, a year by month": lambda i: {
            **year,
            "metric_keys": [f"metric_{i % METRICS}"],
            "limit": 1000,
        },
        "one metric, totals, 3 years by month": lambda i: {
            "from": "2024-01-01T00:00:00Z",
            "to": "2027-01-01T00:00:00Z",
            "metric_keys": [f"metric_{i % METRICS}"],
            "group_by": [],
        },
        "one metric, by property, a year by month": lambda i: {
            **year,
            "metric_keys": [f"metric_{i % METRICS}"],
            "group_by": ["property:region"],
        },
        "one metric, avg, 1,000 customers, a year": lambda i: {
            **year,
            "metric_keys": [f"metric_{i % METRICS}"],
            "rollup": "avg",
            "limit": 1000,
        },
        "one metric, last, 1,000 customers, a year": lambda i: {
            **year,
            "metric_keys": [f"metric_{i % METRICS}"],
            "rollup": "last",
            "limit": 1000,
        },
        "hourly by day, Europe/Berlin, a month": lambda i: {
            "from": "2025-10-01T00:00:00Z",
            "to": "2025-11-01T00:00:00Z",
            "granularity": "hourly",
            "window_size": "day",
            "timezone": "Europe/Berlin",
            "metric_keys": ["metric_hourly"],
            "limit": 1000,
        },
    }


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_pair(
    first: Callable[[int], Any],
    second: Callable[[int], Any],
    requests: int,
    pids: Sequence[int],
    warmup: int = 3,
) -> tuple[list[float], list[float], float, float]:
    """Both actions alternately, request by request, so that both see the same load of the shared
    machine: their ratio is meaningful even when the absolute figures drift. Also the CPU time the
    processes ``pids`` (ClickHouse, the query service) spent per request of each action: what a
    request costs, whatever the load."""
    for i in range(warmup):
        first(i)
        second(i)
    samples: tuple[list[float], list[float]] = ([], [])
    cpu = [0.0, 0.0]
    for i in range(requests):
        for index, (action, into) in enumerate(((first, samples[0]), (second, samples[1]))):
            cpu_before = sum(cpu_seconds(pid) for pid in pids)
            start = time.perf_counter()
            action(i + warmup)
            into.append((time.perf_counter() - start) * 1000)
            cpu[index] += sum(cpu_seconds(pid) for pid in pids) - cpu_before
    return samples[0], samples[1], 1000 * cpu[0] / requests, 1000 * cpu[1] / requests


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--values", type=int, default=10_000_000, help="daily values of the benchmarked org")
    parser.add_argument(
        "--other-values", type=int, default=None, help="daily values of other orgs (default values/5)"
    )
    parser.add_argument("--requests", type=int, default=30, help="measured requests per scenario")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="chdb data directory (default: a temp dir)"
    )
    args = parser.parse_args()
    tune_process()  # the direct path (the floor) runs in this process: tuned like the service
    other = args.values // 5 if args.other_values is None else args.other_values
    work = args.data_dir or Path(tempfile.mkdtemp(prefix="quivly-usage-bench-"))

    clickhouse = LocalClickHouse.start(work / "chdb", work / "chdb.log")
    service = None
    # The direct path reads each context alongside its page, as the query service does.
    contexts = RecentContexts()
    try:
        client, api_key = open_bench_database(clickhouse.url, ORG, timeout_s=900)
        started = time.perf_counter()
        if client.command(f"SELECT count() FROM usage_events WHERE org_id = '{ORG}'") == 0:
            load_daily(client, ORG, args.values)
            load_hourly(client, ORG)
            for index in range(2):
                load_daily(client, f"org-other-{index}", other // 2)
            replace_some(client, ORG, 100)
            client.insert(
                "metric_rollups",
                [[ORG, "metric_1", "max", 1], [ORG, "metric_2", "last", 1]],
                column_names=["org_id", "metric_key", "rollup", "version"],
            )
        for table in (USAGE_EVENTS, USAGE_EVENTS_BY_CUSTOMER, USAGE_EVENTS_BY_METRIC):
            # The replacements stay unmerged while measuring (and no merge eats CPU meanwhile).
            client.command(f"SYSTEM STOP MERGES {table}")
        stored = client.command(f"SELECT count() FROM usage_events WHERE org_id = '{ORG}'")
        parts = client.command(
            "SELECT count() FROM system.parts WHERE database = 'quivly_bench' AND active "
            "AND table = 'usage_events'"
        )
        print(
            f"loaded {args.values:,} daily values (+{HOURLY_CUSTOMERS * HOURLY_HOURS:,} hourly, "
            f"+{other:,} of other orgs; {stored:,} rows of the org incl. 1 % unmerged replacements) in "
            f"{time.perf_counter() - started:.1f} s; {parts} parts"
        )
        port = free_port()
        env = {"QUIVLY_CLICKHOUSE_URL": clickhouse.url, "QUIVLY_CLICKHOUSE_DATABASE": "quivly_bench"}
        command = [sys.executable, "-m", "uvicorn", "query.main:create_app", "--factory", "--port", str(port)]
        service = start_process([*command, "--log-level", "warning"], work / "query.log", env=env)
        wait_for_port(port, timeout_s=30, process=service)
        pids = (clickhouse.process.pid, service.pid)
        base_url = f"http://127.0.0.1:{port}"
        for table in (
            "usage_monthly_refreshes",
            "usage_monthly",
            "usage_monthly_by_properties",
        ):  # starts over
            client.command(f"TRUNCATE TABLE {table}")
        print("\nevery month read from the daily values (no monthly summary):")
        run_scenarios(client, base_url, api_key, args, pids, contexts)
        refresher = SummaryRefresher(lambda: client)
        summarized = refresher.refresh(settled_only=False)
        print(
            f"\nthe streams worker's refresher summarized {len(summarized.summarized)} months "
            f"in {summarized.seconds:.1f} s; every whole month read from its summary:"
        )
        run_scenarios(client, base_url, api_key, args, pids, contexts)
        last_month = client.command(
            f"SELECT formatDateTime(max(period_start), '%Y-%m') FROM usage_events WHERE org_id = '{ORG}' "
            "AND granularity = 'daily'"
        )
        replace_some(client, ORG, 100, remainder=1, months=["2025-12", str(last_month)])
        print(f"\n1 % of the values of 2025-12 and {last_month} written again since their summary:")
        run_scenarios(client, base_url, api_key, args, pids, contexts)
        command_line = f"--values {args.values} --requests {args.requests}"
        print(f"\nreproduce: .venv/bin/python bench/usage_bench.py {command_line}")
    finally:
        contexts.close()
        if service is not None:
            stop_process(service)
        clickhouse.stop()
        if args.data_dir is None:
            shutil.rmtree(work, ignore_errors=True)


def run_scenarios(
    client: Any,
    base_url: str,
    api_key: str,
    args: argparse.Namespace,
    pids: tuple[int, int],
    contexts: RecentContexts,
) -> None:
    def run(statement: Statement) -> Sequence[Sequence[Any]]:
        return list(client.query(statement.sql, parameters=statement.parameters).result_rows)

    days = max(1, args.values // (CUSTOMERS * METRICS))
    print(HEADER)
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=300) as http:
        for name, make_body in scenarios(days).items():
            bodies = [make_body(i) for i in range(args.requests + 3)]
            windows: list[int] = []

            def over_http(
                i: int, bodies: list[dict[str, Any]] = bodies, windows: list[int] = windows
            ) -> None:
                response = http.post("/v1/usage/query", json=bodies[i])
                assert response.status_code == 200, response.text
                # orjson: the client's own parsing of a 12,000-window answer stays a few ms
                answer = orjson.loads(response.content)
                windows.append(sum(len(series["windows"]) for series in answer["series"]))

            def direct(i: int, bodies: list[dict[str, Any]] = bodies) -> None:
                run_usage_query(ORG, validate_usage_query(bodies[i]), run, contexts=contexts)

            print_row(name, *timed_pair(over_http, direct, args.requests, pids), windows)


HEADER = (
    f"\n{'scenario':44} {'HTTP p50':>9} {'HTTP p95':>9} {'direct p50':>11} {'direct p95':>11} "
    f"{'p95 ratio':>9} {'CPU HTTP':>9} {'CPU direct':>10} {'windows':>8}"
)


def print_row(
    name: str,
    http_ms: list[float],
    direct_ms: list[float],
    cpu_http: float,
    cpu_direct: float,
    windows: list[int],
) -> None:
    h50, h95 = percentiles(http_ms)
    d50, d95 = percentiles(direct_ms)
    shown = f"{int(statistics.median(windows)):,}" if windows else "-"
    print(
        f"{name:44} {h50:7.1f}ms {h95:7.1f}ms {d50:9.1f}ms {d95:9.1f}ms {h95 / d95:8.2f}x "
        f"{cpu_http:7.1f}ms {cpu_direct:8.1f}ms {shown:>8}",
        flush=True,
    )


if __name__ == "__main__":
    main()
