"""``quivly admin ...``: the admin API from the command line (over HTTP, with httpx).

``--url`` (env ``QUIVLY_ADMIN_URL``, default http://127.0.0.1:8000) and ``--token``
(env ``QUIVLY_ADMIN_TOKEN``) select the ingress service and its admin token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingress.admin.customers_file import CustomersFileError, chunks, parse_customers_file
from ingress.admin.sources_cli import source_app

admin_app = typer.Typer(help="Administer organizations, keys, customers, configurations and metrics.")
admin_app.add_typer(source_app, name="source")
console = Console()
err_console = Console(stderr=True)


class AdminClient:
    def __init__(self, url: str, token: str, timeout_s: float = 120.0) -> None:
        self._http = httpx.Client(
            base_url=url.rstrip("/") + "/admin/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )

    def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            err_console.print(f"[red]cannot reach the admin API: {exc}[/red]")
            raise typer.Exit(2) from None
        if response.status_code >= 400:
            err_console.print(f"[red]{response.status_code}[/red] {response.text}")
            raise typer.Exit(1)
        return response.json()


@admin_app.callback()
def _options(
    ctx: typer.Context,
    url: str = typer.Option("http://127.0.0.1:8000", envvar="QUIVLY_ADMIN_URL", help="Ingress base URL"),
    token: str = typer.Option("", envvar="QUIVLY_ADMIN_TOKEN", help="Admin token"),
) -> None:
    ctx.obj = AdminClient(url, token)


def _client(ctx: typer.Context) -> AdminClient:
    assert isinstance(ctx.obj, AdminClient)
    return ctx.obj


@admin_app.command("create-org")
def create_org(ctx: typer.Context, name: str) -> None:
    """Creates an organization and prints its org_id."""
    console.print_json(data=_client(ctx).call("POST", "/orgs", {"name": name}))


@admin_app.command("list-orgs")
def list_orgs(ctx: typer.Context) -> None:
    """Lists organizations."""
    table = Table("org_id", "name", "created_at")
    for org in _client(ctx).call("GET", "/orgs")["orgs"]:
        table.add_row(org["org_id"], org["name"], org["created_at"])
    console.print(table)


@admin_app.command("generate-key")
def generate_key(ctx: typer.Context, org_id: str) -> None:
    """Generates the organization's API key (shown once; the previous key stops working)."""
    key = _client(ctx).call("POST", f"/orgs/{org_id}/api-key")["api_key"]
    console.print(key, soft_wrap=True)


@admin_app.command("import-customers")
def import_customers(
    ctx: typer.Context,
    org_id: str,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or JSON file"),
    file_format: str = typer.Option("auto", "--format", help="csv, json or auto (by extension/content)"),
    chunk_size: int = typer.Option(5000, min=1, help="Customers per request"),
) -> None:
    """Upserts customers from a file. CSV columns: customer_id,name,source,external_id (one row per ID).

    Nothing is sent when any row is bad: every bad row is listed with its line number.
    """
    try:
        parsed = parse_customers_file(file.read_bytes(), file.name, file_format)
    except CustomersFileError as exc:
        err_console.print(f"{file}: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(1) from None
    for line, problem in parsed.row_errors:
        err_console.print(f"{file}:{line}: {problem}", markup=False, highlight=False)
    if parsed.row_errors:
        raise typer.Exit(1)
    customers = parsed.customers
    client = _client(ctx)
    totals = {"upserted": 0, "external_ids_added": 0, "external_ids_removed": 0}
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console) as progress:
        task = progress.add_task("customers", total=len(customers))
        for chunk in chunks(customers, chunk_size):
            result = client.call("PUT", f"/orgs/{org_id}/customers", {"customers": chunk})
            for name in totals:
                totals[name] += int(result.get(name, 0))
            progress.advance(task, len(chunk))
    console.print_json(data={"success": True, **totals})


@admin_app.command("list-customers")
def list_customers(ctx: typer.Context, org_id: str) -> None:
    """Lists the organization's customers and their external IDs."""
    table = Table("customer_id", "name", "external_ids")
    for customer in _client(ctx).call("GET", f"/orgs/{org_id}/customers")["customers"]:
        ids = ", ".join(f"{e['source']}:{e['id']}" for e in customer["external_ids"])
        table.add_row(customer["customer_id"], customer["name"], ids)
    console.print(table)


@admin_app.command("create-config")
def create_config(ctx: typer.Context, org_id: str) -> None:
    """Creates the Push API configuration (status draft)."""
    console.print_json(
        data=_client(ctx).call("POST", f"/orgs/{org_id}/configuration", {"source": "push_api"})
    )


@admin_app.command("show-config")
def show_config(ctx: typer.Context, org_id: str) -> None:
    """Shows the configuration: status, endpoint, curl example, metrics."""
    config = _client(ctx).call("GET", f"/orgs/{org_id}/configuration")
    console.print_json(data={k: v for k, v in config.items() if k != "curl_example"})
    console.print(config["curl_example"], soft_wrap=True, markup=False, highlight=False)


@admin_app.command("publish")
def publish(ctx: typer.Context, org_id: str) -> None:
    """Publishes the configuration: pushes become live."""
    console.print_json(data=_client(ctx).call("POST", f"/orgs/{org_id}/configuration/publish"))


@admin_app.command("list-metrics")
def list_metrics(ctx: typer.Context, org_id: str) -> None:
    """Lists discovered metrics with their rollup."""
    table = Table("metric_key", "rollup", "first_seen_at", "last_seen_at")
    for metric in _client(ctx).call("GET", f"/orgs/{org_id}/metrics")["metrics"]:
        table.add_row(metric["metric_key"], metric["rollup"], metric["first_seen_at"], metric["last_seen_at"])
    console.print(table)


@admin_app.command("set-rollup")
def set_rollup(ctx: typer.Context, org_id: str, metric_key: str, rollup: str) -> None:
    """Sets a metric's rollup: sum, max, min, avg or last."""
    console.print_json(
        data=_client(ctx).call("PATCH", f"/orgs/{org_id}/metrics/{metric_key}", {"rollup": rollup})
    )
