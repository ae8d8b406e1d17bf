"""Worker entry point: ``quivly streams-worker`` or ``python -m streams.main``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from core.runtime import tune_process
from core.settings import ClickHouseSettings, KafkaSettings
from streams.settings import StreamsSettings

if TYPE_CHECKING:
    import faust
    import faust.types

log = logging.getLogger(__name__)


def build_worker(
    kafka: KafkaSettings, clickhouse: ClickHouseSettings, streams: StreamsSettings
) -> faust.Worker:
    """The Faust worker with the app, topics, table, sink, agent and summary refresher wired together."""
    import faust

    from streams.agents import register_agents
    from streams.app import create_app
    from streams.dead_letters import DeadLetterTable, register_dead_letter_recorder
    from streams.ops import register_ops, worker_options
    from streams.sink import ClickHouseSink
    from streams.summary import register_summary_refresher
    from streams.tables import state_table
    from streams.topics import dead_letter_topic, usage_topic

    app = create_app(kafka, streams)
    dead_letters = dead_letter_topic(app, kafka)
    register_agents(
        app,
        usage_topic(app, kafka),
        dead_letters,
        state_table(app, kafka),
        ClickHouseSink(clickhouse, streams),
        streams,
    )
    register_dead_letter_recorder(app, dead_letters, DeadLetterTable(clickhouse, streams))
    register_summary_refresher(app, clickhouse, streams)
    ops_server = register_ops(app, kafka, clickhouse, streams)  # started before the app: live during restores
    return faust.Worker(app, ops_server, loglevel=streams.log_level.upper(), **worker_options(streams))  # type: ignore[arg-type]


def run_worker(web_port: int | None = None, data_dir: Path | None = None) -> None:
    """Reads settings from the environment, checks versions, partition counts and local state, runs."""
    from streams.faust_internals import check_versions
    from streams.guards import check_partitions

    check_versions()

    overrides: dict[str, object] = {}
    if web_port is not None:
        overrides["web_port"] = web_port
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    streams = StreamsSettings(**overrides)  # type: ignore[arg-type]
    kafka = KafkaSettings()
    clickhouse = ClickHouseSettings()
    asyncio.run(check_partitions(kafka, streams.app_id))
    streams.data_dir.mkdir(parents=True, exist_ok=True)
    worker = build_worker(kafka, clickhouse, streams)
    rebuild_stale_local_state(worker.app, kafka)
    tune_process()  # last: what exists now is frozen
    worker.execute_from_commandline()


def rebuild_stale_local_state(app: faust.types.AppT, kafka: KafkaSettings) -> None:
    """Removes local table state that the log no longer has (``streams.local_state``)."""
    from streams.faust_internals import rocksdb_store
    from streams.local_state import rebuild_stale_state
    from streams.tables import STATE_TABLE, changelog_topic_name

    store = rocksdb_store(app.tables[STATE_TABLE])
    if store is None:
        return  # in-memory state: nothing survives a restart
    paths = {partition: store.partition_path(partition) for partition in range(kafka.partitions)}
    # Only Kafka is used in the loop below: the store (a Faust service) stays on the worker's loop.
    asyncio.run(rebuild_stale_state(kafka, changelog_topic_name(app.conf.id), paths, store.offset_key))


def streams_worker(
    web_port: int | None = typer.Option(None, help="Faust web port (each worker on a machine needs its own)"),
    data_dir: Path | None = typer.Option(None, help="Directory of the worker's RocksDB table state"),
) -> None:
    """Run the streams worker (Kafka usage topic -> replace state -> ClickHouse)."""
    run_worker(web_port=web_port, data_dir=data_dir)


if __name__ == "__main__":
    typer.run(streams_worker)
