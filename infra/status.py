"""``quivly status``: one look at a running deployment, from the processes' own endpoints.

For each component (ingress, query, every streams worker, the gateway) it asks
``/health/live`` and ``/health/ready`` and reads ``/metrics``: readiness with the failing checks,
consumer lag per partition, freshness p50/p99 over the last 5 minutes (the workers' recent
window), the dead letters written since the workers started and those stored in ClickHouse
(``usage_dead_letters``), waiting for a fix and ``quivly dead-letters replay``. Rich tables, or ``--json``.
Exit code 0 when every component is ready, 1 otherwise.

The defaults are the local run's ports (``QUIVLY_DEV_*``); point it elsewhere with the options
or ``QUIVLY_STATUS_*_URL`` (comma-separated for several streams workers).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import typer
from prometheus_client.parser import text_string_to_metric_families
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.table import Table

from core.clickhouse import make_client
from core.dead_letters import DEAD_LETTERS
from core.settings import ClickHouseSettings


@dataclass
class ComponentStatus:
    name: str
    url: str
    live: bool = False
    ready: bool = False
    checks: dict[str, str] = field(default_factory=dict)
    error: str = ""
    metrics: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict, repr=False)


@dataclass
class StoredDeadLetters:
    """Dead letters kept in ClickHouse (``usage_dead_letters``), waiting for a fix and a replay."""

    total: int = 0
    last_24h: int = 0
    organizations: int = 0
    error: str = ""


@dataclass
class StreamsFigures:
    lag: dict[str, int] = field(default_factory=dict)  # partition -> records waiting
    freshness_p50_s: float | None = None
    freshness_p99_s: float | None = None
    dead_letters: int = 0
    applied: int = 0
    stored_dead_letters: StoredDeadLetters | None = None


def parse_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] from the Prometheus text format."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return samples


def streams_figures(workers: list[ComponentStatus]) -> StreamsFigures:
    """Lag, freshness and dead letters over every worker (the worst worker's freshness)."""
    figures = StreamsFigures()
    p50: list[float] = []
    p99: list[float] = []
    for worker in workers:
        for labels, value in worker.metrics.get("quivly_streams_consumer_lag", []):
            figures.lag[labels["partition"]] = int(value)
        for labels, value in worker.metrics.get("quivly_streams_freshness_seconds_recent", []):
            (p50 if labels.get("quantile") == "0.5" else p99).append(value)
        for labels, value in worker.metrics.get("quivly_streams_records_total", []):
            if labels.get("outcome") == "dead_lettered":
                figures.dead_letters += int(value)
            elif labels.get("outcome") == "applied":
                figures.applied += int(value)
    figures.lag = dict(sorted(figures.lag.items(), key=lambda item: int(item[0])))
    figures.freshness_p50_s = max(p50) if p50 else None
    figures.freshness_p99_s = max(p99) if p99 else None
    return figures


def fetch(client: httpx.Client, name: str, url: str) -> ComponentStatus:
    status = ComponentStatus(name, url)
    try:
        status.live = client.get(f"{url}/health/live").status_code == 200
        ready = client.get(f"{url}/health/ready")
        status.ready = ready.status_code == 200
        status.checks = dict(ready.json().get("checks", {}))
        status.metrics = parse_metrics(client.get(f"{url}/metrics").text)
    except (httpx.HTTPError, ValueError) as exc:
        status.error = str(exc) or type(exc).__name__
    return status


class StatusSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUIVLY_STATUS_", extra="ignore")

    # Ingress base URL for `quivly status` (empty: the local run's ingress port).
    ingress_url: str = ""
    # Query base URL (empty: the local run's query port).
    query_url: str = ""
    # Streams workers' web URLs, comma-separated (empty: the local run's worker).
    streams_url: str = ""
    # The gateway's operations URL (empty: the local run's gateway ops port).
    gateway_url: str = ""
    # ClickHouse holding the dead letters (empty: QUIVLY_CLICKHOUSE_URL, else the local run's endpoint).
    clickhouse_url: str = ""
    # Timeout of each request `quivly status` makes.
    timeout_s: float = 5.0

    def components(self) -> list[tuple[str, str]]:
        from infra.local_run import LocalRunSettings

        local = LocalRunSettings()
        host = "http://127.0.0.1"
        streams = self.streams_url or f"{host}:{local.streams_web_port}"
        found = [
            ("ingress", self.ingress_url or f"{host}:{local.ingress_port}"),
            ("query", self.query_url or f"{host}:{local.query_port}"),
        ]
        urls = [url.strip() for url in streams.split(",") if url.strip()]
        found += [(f"streams-{index}" if len(urls) > 1 else "streams", url) for index, url in enumerate(urls)]
        found.append(("gateway", self.gateway_url or f"{host}:{local.gateway_ops_port}"))
        return [(name, url.rstrip("/")) for name, url in found]

    def clickhouse(self) -> ClickHouseSettings:
        from infra.local_run import LocalRunSettings

        configured = ClickHouseSettings()
        url = self.clickhouse_url or os.environ.get("QUIVLY_CLICKHOUSE_URL", "")
        url = url or f"http://127.0.0.1:{LocalRunSettings().clickhouse_port}"
        timeout = self.timeout_s
        return configured.model_copy(
            update={"url": url, "connect_timeout_s": timeout, "send_receive_timeout_s": timeout}
        )


def stored_dead_letters(settings: ClickHouseSettings) -> StoredDeadLetters:
    try:
        client = make_client(settings)
        try:
            last_day = "dead_lettered_at > now() - INTERVAL 1 DAY"
            total, recent, orgs = client.query(
                f"SELECT uniqExact(letter_id), uniqExactIf(letter_id, {last_day}), uniqExact(org_id) "
                f"FROM {DEAD_LETTERS}"
            ).result_rows[0]
        finally:
            client.close()
    except Exception as exc:  # an unreachable ClickHouse is part of the report, not a crash
        return StoredDeadLetters(error=(str(exc) or type(exc).__name__).splitlines()[0][:200])
    return StoredDeadLetters(int(total), int(recent), int(orgs))


def collect(settings: StatusSettings) -> tuple[list[ComponentStatus], StreamsFigures]:
    with httpx.Client(timeout=settings.timeout_s) as client:
        components = [fetch(client, name, url) for name, url in settings.components()]
    workers = [c for c in components if c.name.startswith("streams")]
    figures = streams_figures(workers)
    figures.stored_dead_letters = stored_dead_letters(settings.clickhouse())
    return components, figures


def as_json(components: list[ComponentStatus], figures: StreamsFigures) -> dict[str, Any]:
    return {
        "ready": all(c.ready for c in components),
        "components": [{k: v for k, v in asdict(c).items() if k != "metrics"} for c in components],
        "streams": asdict(figures),
    }


def _seconds(value: float | None) -> str:
    return "no data (no rows in the last 5 min)" if value is None else f"{value:.3f} s"


def render(console: Console, components: list[ComponentStatus], figures: StreamsFigures) -> None:
    table = Table(title="quivly components")
    for column in ("component", "url", "live", "ready", "checks"):
        table.add_column(column)
    for c in components:
        checks = c.error or ", ".join(f"{name}: {result}" for name, result in c.checks.items())
        table.add_row(
            c.name,
            c.url,
            "[green]yes[/]" if c.live else "[red]no[/]",
            "[green]ready[/]" if c.ready else "[red]not ready[/]",
            checks,
        )
    console.print(table)
    lag = Table(title="consumer lag (records waiting)")
    lag.add_column("partition")
    lag.add_column("lag", justify="right")
    for partition, value in figures.lag.items():
        lag.add_row(partition, f"{value:,}")
    lag.add_row("[bold]total[/]", f"[bold]{sum(figures.lag.values()):,}[/]")
    console.print(lag)
    console.print(f"freshness p50  {_seconds(figures.freshness_p50_s)}   (ingress accepted -> row inserted)")
    console.print(f"freshness p99  {_seconds(figures.freshness_p99_s)}")
    colour = "red" if figures.dead_letters else "green"
    console.print(f"dead letters   [{colour}]{figures.dead_letters:,}[/] since the workers started")
    stored = figures.stored_dead_letters
    if stored is not None and stored.error:
        console.print(f"               stored: unknown (ClickHouse: {stored.error})")
    elif stored is not None:
        colour = "red" if stored.total else "green"
        console.print(
            f"               stored: [{colour}]{stored.total:,}[/] waiting "
            f"({stored.last_24h:,} in the last 24 h, {stored.organizations:,} organization(s)); "
            "`quivly dead-letters list` shows them"
        )
    console.print(f"rows applied   {figures.applied:,} since the workers started")


def status_command(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables"),
    ingress: str = typer.Option("", help="Ingress base URL (default: the local run's)"),
    query: str = typer.Option("", help="Query base URL"),
    streams: str = typer.Option("", help="Streams worker web URL(s), comma-separated"),
    gateway: str = typer.Option("", help="Gateway operations URL (its ops port)"),
    clickhouse: str = typer.Option("", help="ClickHouse URL for the stored dead letters"),
) -> None:
    """Readiness of every component, consumer lag, freshness p50/p99 and dead letters."""
    overrides = {
        "ingress_url": ingress,
        "query_url": query,
        "streams_url": streams,
        "gateway_url": gateway,
        "clickhouse_url": clickhouse,
    }
    settings = StatusSettings(**{k: v for k, v in overrides.items() if v})  # type: ignore[arg-type]
    components, figures = collect(settings)
    if json_output:
        print(json.dumps(as_json(components, figures), indent=2))
    else:
        render(Console(), components, figures)
    raise typer.Exit(0 if all(c.ready for c in components) else 1)
