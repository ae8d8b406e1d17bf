"""``quivly admin source …``: warehouse sources from the command line, over the admin API.

Credentials never go on the command line (shell history, process list): ``--secret password``
prompts for the value (hidden) unless ``QUIVLY_SOURCE_PASSWORD`` is set, and
``--secret-file service_account_json=key.json`` reads it from a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import typer
from rich.console import Console
from rich.table import Table

from ingress.warehouse.secrets import generate_key

source_app = typer.Typer(
    help="Warehouse sources: BigQuery, Snowflake or ClickHouse queries pulled on a schedule."
)
console = Console()
err_console = Console(stderr=True)


class ApiCaller(Protocol):
    def call(self, method: str, path: str, body: Any = None) -> Any: ...


def _client(ctx: typer.Context) -> ApiCaller:
    return ctx.obj  # the admin CLI's AdminClient (``quivly admin``)


def _pairs(items: list[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            err_console.print(f"[red]{option} takes NAME=VALUE, got {item!r}[/red]")
            raise typer.Exit(2)
        pairs[name] = value
    return pairs


def _connection(settings: list[str], secrets: list[str], secret_files: list[str]) -> dict[str, Any]:
    connection: dict[str, Any] = {}
    for name, value in _pairs(settings, "--setting").items():
        connection[name] = int(value) if name == "port" and value.isdigit() else value
    for name in secrets:
        from_env = os.environ.get(f"QUIVLY_SOURCE_{name.upper()}")
        connection[name] = from_env if from_env is not None else typer.prompt(name, hide_input=True)
    for name, path in _pairs(secret_files, "--secret-file").items():
        connection[name] = Path(path).read_text(encoding="utf-8")
    return connection


def _body(
    name: str | None,
    query: str | None,
    query_file: Path | None,
    interval: int | None,
    watermark_column: str | None,
    lookback: int | None,
    connection: dict[str, Any],
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if query_file is not None:
        query = query_file.read_text(encoding="utf-8")
    if query is not None:
        body["query"] = query
    if interval is not None:
        body["schedule"] = {"interval_s": interval}
    if watermark_column is not None:
        body["incremental"] = (
            {"column": watermark_column, "lookback_s": lookback if lookback is not None else 86_400}
            if watermark_column
            else None
        )
    if connection:
        body["connection"] = connection
    return body


SETTING = typer.Option([], "--setting", help="Connection setting NAME=VALUE (repeatable), e.g. url=https://…")
SECRET = typer.Option([], "--secret", help="Credential to prompt for (hidden), e.g. password (repeatable)")
SECRET_FILE = typer.Option([], "--secret-file", help="Credential read from a file NAME=PATH (repeatable)")
QUERY = typer.Option(None, "--query", help="The SQL query")
QUERY_FILE = typer.Option(
    None, "--query-file", exists=True, dir_okay=False, help="Read the query from a file"
)
INTERVAL = typer.Option(None, "--interval", help="Seconds between scheduled runs")
WATERMARK = typer.Option(None, "--watermark-column", help="Incremental column ('' = re-read everything)")
LOOKBACK = typer.Option(None, "--lookback", help="Seconds re-read before the watermark")


@source_app.command("create")
def create(
    ctx: typer.Context,
    org_id: str,
    kind: str = typer.Option(..., "--kind", help="clickhouse, snowflake or bigquery"),
    name: str | None = typer.Option(None, "--name"),
    query: str | None = QUERY,
    query_file: Path | None = QUERY_FILE,
    interval: int | None = INTERVAL,
    watermark_column: str | None = WATERMARK,
    lookback: int | None = LOOKBACK,
    setting: list[str] = SETTING,
    secret: list[str] = SECRET,
    secret_file: list[str] = SECRET_FILE,
) -> None:
    """Creates a warehouse source (draft: test runs only until published)."""
    connection = _connection(setting, secret, secret_file)
    body = {"kind": kind, **_body(name, query, query_file, interval, watermark_column, lookback, connection)}
    body.setdefault("connection", {})
    console.print_json(data=_client(ctx).call("POST", f"/orgs/{org_id}/sources", body))


@source_app.command("update")
def update(
    ctx: typer.Context,
    org_id: str,
    source_id: str,
    name: str | None = typer.Option(None, "--name"),
    query: str | None = QUERY,
    query_file: Path | None = QUERY_FILE,
    interval: int | None = INTERVAL,
    watermark_column: str | None = WATERMARK,
    lookback: int | None = LOOKBACK,
    setting: list[str] = SETTING,
    secret: list[str] = SECRET,
    secret_file: list[str] = SECRET_FILE,
) -> None:
    """Changes the given fields; credentials not given keep their value."""
    connection = _connection(setting, secret, secret_file)
    body = _body(name, query, query_file, interval, watermark_column, lookback, connection)
    console.print_json(data=_client(ctx).call("PATCH", f"/orgs/{org_id}/sources/{source_id}", body))


@source_app.command("list")
def list_sources(ctx: typer.Context, org_id: str) -> None:
    """Lists the organization's warehouse sources."""
    table = Table("source_id", "name", "kind", "status", "interval_s", "watermark column")
    for source in _client(ctx).call("GET", f"/orgs/{org_id}/sources")["sources"]:
        incremental = source["incremental"] or {}
        table.add_row(
            source["source_id"], source["name"], source["kind"], source["status"],
            str(source["schedule"]["interval_s"]), incremental.get("column", "—"),
        )  # fmt: skip
    console.print(table)


@source_app.command("show")
def show(ctx: typer.Context, org_id: str, source_id: str) -> None:
    """Shows one source (credentials masked)."""
    console.print_json(data=_client(ctx).call("GET", f"/orgs/{org_id}/sources/{source_id}"))


@source_app.command("test-run")
def test_run(
    ctx: typer.Context, org_id: str, source_id: str, as_json: bool = typer.Option(False, "--json")
) -> None:
    """Runs the query (capped rows) and shows the report; stores nothing."""
    report = _client(ctx).call("POST", f"/orgs/{org_id}/sources/{source_id}/test-run")
    if as_json:
        console.print_json(data=report)
        return
    summary = report["summary"]
    console.print(
        f"rows read {report['rows_read']}{' (capped)' if report['capped'] else ''}: "
        f"matched {summary['matched']}, unmatched {summary['unmatched']}, invalid {summary['invalid']}; "
        f"watermark {report['watermark']}"
    )
    if report["unmatched_external_ids"]:
        console.print("unmatched external IDs: " + ", ".join(report["unmatched_external_ids"]))
    if report["invalid_rows"]:
        table = Table("row", "column", "reason", title="invalid rows")
        for item in report["invalid_rows"]:
            table.add_row(str(item["row"]), item["column"], item["reason"])
        console.print(table)


@source_app.command("publish")
def publish(
    ctx: typer.Context,
    org_id: str,
    source_id: str,
    yes: bool = typer.Option(False, "--yes", help="No prompt"),
) -> None:
    """Publishes the source: scheduled runs store their rows from now on."""
    if not yes:
        typer.confirm(f"Publish {source_id}? Scheduled runs will store usage", abort=True)
    console.print_json(data=_client(ctx).call("POST", f"/orgs/{org_id}/sources/{source_id}/publish"))


@source_app.command("pause")
def pause(ctx: typer.Context, org_id: str, source_id: str) -> None:
    """Pauses scheduled runs."""
    console.print_json(data=_client(ctx).call("POST", f"/orgs/{org_id}/sources/{source_id}/pause"))


@source_app.command("runs")
def runs(ctx: typer.Context, org_id: str, source_id: str, limit: int = typer.Option(20, "--limit")) -> None:
    """The newest runs: status, rows read/written/unmatched/invalid, watermark, error."""
    table = Table("started_at", "status", "read", "written", "unmatched", "invalid", "watermark", "error")
    path = f"/orgs/{org_id}/sources/{source_id}/runs?limit={limit}"
    for run in _client(ctx).call("GET", path)["runs"]:
        table.add_row(
            run["started_at"], run["status"], str(run["rows_read"]), str(run["rows_written"]),
            str(run["rows_unmatched"]), str(run["rows_invalid"]), run["watermark"] or "—", run["error"] or "",
        )  # fmt: skip
    console.print(table)


@source_app.command("generate-encryption-key")
def generate_encryption_key() -> None:
    """Prints a new key for QUIVLY_WAREHOUSE_ENCRYPTION_KEY (set the same key on every ingress replica)."""
    console.print(generate_key(), soft_wrap=True)
