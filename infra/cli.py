"""The ``quivly`` command: run the services, the local stack, and admin tasks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console

from core.settings import ClickHouseSettings, KafkaSettings
from infra.dead_letters import dead_letters_app
from infra.status import status_command
from ingress.admin.cli import admin_app
from query.usage_cli import usage_command
from streams.main import streams_worker

app = typer.Typer(help="quivly: product-usage ingestion service.", no_args_is_help=True)
console = Console()


@app.command("chdb-server")
def chdb_server(
    data_dir: Path = typer.Option(
        Path(".quivly/clickhouse"), help="chdb data directory (owned by this process)"
    ),
    port: int = typer.Option(8123, help="Port on 127.0.0.1"),
    connections: int = typer.Option(
        4,
        min=1,
        envvar="QUIVLY_CHDB_CONNECTIONS",
        help="chdb connections: statements that run at once (each one at a time)",
    ),
) -> None:
    """DEV/TEST ONLY: a ClickHouse HTTP endpoint backed by chdb, on 127.0.0.1."""
    from infra.chdb_server import serve

    serve(data_dir, port, connections)


@app.command()
def migrate(down: bool = typer.Option(False, "--down", help="Revert the newest migration")) -> None:
    """Apply pending ClickHouse migrations (or revert the newest one)."""
    from infra.migrate import apply_migrations, revert_last_migration

    settings = ClickHouseSettings()
    if down:
        reverted = revert_last_migration(settings)
        console.print(f"reverted {reverted.path.name}" if reverted else "nothing to revert")
        return
    applied = apply_migrations(settings)
    console.print(f"applied {len(applied)} migration(s) to {settings.database}")


@app.command("provision-topics")
def provision_topics_command() -> None:
    """Create the Kafka topics (idempotent; refuses a changed partition count)."""
    from infra.topics import provision_topics

    settings = KafkaSettings()
    asyncio.run(provision_topics(settings))
    console.print(f"topics ready on {settings.bootstrap_servers}")


@app.command()
def setup() -> None:
    """Apply migrations and provision topics: everything the services need before they start."""
    migrate(down=False)
    provision_topics_command()


HOST_OPTION = typer.Option("127.0.0.1", envvar="QUIVLY_BIND_HOST", help="Address to bind")


def _serve(factory: str, host: str, port: int, workers: int) -> None:
    from infra.serving import serve_service

    serve_service(factory, factory.split(".")[0], host, port, workers)


@app.command("serve-ingress")
def serve_ingress(
    port: int = typer.Option(8001), workers: int = typer.Option(1), host: str = HOST_OPTION
) -> None:
    """Run the ingress service (push API + admin API + panel)."""
    _serve("ingress.main:create_app", host, port, workers)


@app.command("serve-query")
def serve_query(
    port: int = typer.Option(8002), workers: int = typer.Option(1), host: str = HOST_OPTION
) -> None:
    """Run the query service (event fetch and search)."""
    _serve("query.main:create_app", host, port, workers)


@app.command()
def gateway(
    port: int = typer.Option(8000),
    host: str = HOST_OPTION,
    ops_port: int | None = typer.Option(None, help="Port of /health/* and /metrics (default 8010)"),
) -> None:
    """Run the gateway: one base URL routing to ingress and query (local run)."""
    from infra.gateway_ops import serve

    serve(host, port, ops_port)


@app.command()
def dev() -> None:
    """Run the whole service locally (broker, ClickHouse, ingress, streams, query) with a demo org."""
    from infra.local_run import run_local

    raise typer.Exit(run_local())


# infra composes the services' own commands (the services never import each other).
app.add_typer(admin_app, name="admin")
app.add_typer(dead_letters_app, name="dead-letters")
app.command("streams-worker")(streams_worker)
app.command("usage")(usage_command)
app.command("status")(status_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
