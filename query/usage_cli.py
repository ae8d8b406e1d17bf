"""``quivly usage``: usage rolled up over windows, from the command line (``POST /v1/usage/query``
over HTTP with the organization's API key).

``--url`` (env ``QUIVLY_API_URL``, default http://127.0.0.1:8000) and ``--key`` (env
``QUIVLY_API_KEY``) select the service and the organization. Prints a table, or ``--format csv``
(one row per series and window) or ``--format json`` (the API's answer as it is).
"""

from __future__ import annotations

import sys
from typing import Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.table import Table

from core.usage_table import COLUMNS, csv_text, usage_rows

console = Console()
err_console = Console(stderr=True)
FORMATS = ("table", "csv", "json")


def usage_command(
    start: str = typer.Option(..., "--from", help="RFC 3339 or a date (2026-01-01 = its UTC midnight)"),
    end: str = typer.Option(..., "--to", help="Exclusive; RFC 3339 or a date"),
    granularity: str = typer.Option("daily", help="hourly, daily, weekly or monthly values"),
    window: str = typer.Option("month", "--window", help="hour, day, week, month, quarter, year or all"),
    timezone: str = typer.Option("UTC", help="IANA name (other than UTC only with hourly values)"),
    metrics: list[str] = typer.Option([], "--metric", help="Metric key (repeatable; default: every metric)"),
    customers: list[str] = typer.Option([], "--customer", help="Customer ID (repeatable)"),
    external_ids: list[str] = typer.Option([], "--external-id", help="External customer ID (repeatable)"),
    group_by: list[str] = typer.Option(
        [],
        "--group-by",
        help='"customer" or "property:<name>" (repeatable; default customer; "none": totals)',
    ),
    rollup: str = typer.Option("", help="Override the metrics' rollups: sum, max, min, avg or last"),
    limit: int = typer.Option(100, help="Series per page (1-1000)"),
    offset: int = typer.Option(0, help="Series to skip"),
    output: str = typer.Option("table", "--format", help="table, csv or json"),
    url: str = typer.Option("http://127.0.0.1:8000", envvar="QUIVLY_API_URL", help="API base URL"),
    key: str = typer.Option("", envvar="QUIVLY_API_KEY", help="The organization's API key"),
) -> None:
    """Usage rolled up over windows, per metric and customer (POST /v1/usage/query)."""
    if output not in FORMATS:
        err_console.print(f"[red]--format must be one of: {', '.join(FORMATS)}[/red]")
        raise typer.Exit(2)
    body = request_body(
        start,
        end,
        granularity,
        window,
        timezone,
        metrics,
        customers,
        external_ids,
        group_by,
        rollup,
        limit,
        offset,
    )
    answer = call(url, key, body)
    if output == "json":
        sys.stdout.write(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif output == "csv":
        sys.stdout.write(csv_text(usage_rows(answer)))
    else:
        print_table(answer)


def request_body(
    start: str,
    end: str,
    granularity: str,
    window: str,
    timezone: str,
    metrics: list[str],
    customers: list[str],
    external_ids: list[str],
    group_by: list[str],
    rollup: str,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "from": _moment(start),
        "to": _moment(end),
        "granularity": granularity,
        "window_size": window,
        "timezone": timezone,
        "limit": limit,
        "offset": offset,
    }
    if metrics:
        body["metric_keys"] = metrics
    if customers:
        body["customer_ids"] = customers
    if external_ids:
        body["external_customer_ids"] = external_ids
    if group_by:
        body["group_by"] = [item for item in group_by if item != "none"]
    if rollup:
        body["rollup"] = rollup
    return body


def _moment(text: str) -> str:
    """A bare date means its UTC midnight."""
    return f"{text}T00:00:00Z" if len(text) == 10 else text


def call(url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = httpx.post(
            url.rstrip("/") + "/v1/usage/query",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        )
    except httpx.HTTPError as exc:
        err_console.print(f"[red]cannot reach the API: {exc}[/red]")
        raise typer.Exit(2) from None
    if response.status_code != 200:
        err_console.print(f"[red]{response.status_code}[/red] {response.text}", markup=True, highlight=False)
        raise typer.Exit(1)
    answer: dict[str, Any] = response.json()
    return answer


def print_table(answer: dict[str, Any]) -> None:
    table = Table(*COLUMNS, title=_title(answer))
    for row in usage_rows(answer):
        table.add_row(*row)
    console.print(table)
    shown = len(answer.get("series", []))
    footer = f"{shown} of {answer.get('total_series', 0)} series (offset {answer.get('offset', 0)})"
    unresolved = answer.get("unresolved_external_customer_ids") or []
    if unresolved:
        footer += f"; unresolved external IDs: {', '.join(unresolved)}"
    console.print(footer, markup=False, highlight=False)


def _title(answer: dict[str, Any]) -> str:
    return (
        f"{answer.get('granularity')} values by {answer.get('window_size')} ({answer.get('timezone')}), "
        f"{answer.get('from')} to {answer.get('to')}"
    )
