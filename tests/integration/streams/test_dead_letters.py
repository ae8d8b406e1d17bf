"""Dead letters end to end: recorded in ClickHouse, listed and replayed by ``quivly dead-letters``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from core.clickhouse import make_client
from core.dead_letters import DEAD_LETTER_COLUMNS, DEAD_LETTERS, letter_id
from core.records import UsageRecord
from core.settings import ClickHouseSettings, KafkaSettings
from infra.cli import app
from tests.integration.streams.conftest import WorkerFactory
from tests.integration.streams.helpers import current_values, produce, record, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]


def letter_row(item: UsageRecord, source: str) -> tuple[object, ...]:
    at = datetime.now(UTC)
    return (
        item.org_id,
        letter_id(source),
        at,
        "fixed since",
        source,
        item.key.to_bytes(),
        item.to_bytes(),
        0,
    )


def test_replay_reproduces_chosen_letters_and_skips_superseded_ones(
    kafka_settings: KafkaSettings,
    clickhouse_settings: ClickHouseSettings,
    worker_factory: WorkerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "QUIVLY_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "QUIVLY_KAFKA_USAGE_TOPIC": kafka_settings.usage_topic,
        "QUIVLY_CLICKHOUSE_URL": clickhouse_settings.url,
        "QUIVLY_CLICKHOUSE_DATABASE": clickhouse_settings.database,
    }.items():
        monkeypatch.setenv(name, value)
    old = record(org="acme", customer="old", value=1.0)
    newer = record(org="acme", customer="old", value=2.0)  # the same key, written after the letter
    fixed = record(org="acme", customer="fixed", value=3.0)
    other = record(org="other", customer="x", value=4.0)
    worker_factory(kafka_settings, clickhouse_settings).start()
    asyncio.run(produce(kafka_settings, [newer]))
    wait_for(lambda: current_values(clickhouse_settings) == {newer.event_id: 2.0}, 40, "the newer write")
    client = make_client(clickhouse_settings)
    try:
        rows = [letter_row(old, "u/0/1"), letter_row(fixed, "u/0/2"), letter_row(other, "u/1/1")]
        client.insert(DEAD_LETTERS, rows, column_names=list(DEAD_LETTER_COLUMNS))
    finally:
        client.close()
    runner = CliRunner()

    listed = runner.invoke(app, ["dead-letters", "list", "--org", "acme"], env={"COLUMNS": "300"})
    assert listed.exit_code == 0, listed.output
    assert letter_id("u/0/1") in listed.output and letter_id("u/1/1") not in listed.output

    replayed = runner.invoke(app, ["dead-letters", "replay", "--org", "acme"])
    assert replayed.exit_code == 0, replayed.output
    assert f"skipped {letter_id('u/0/1')}" in replayed.output and "replayed 1 dead letter" in replayed.output
    expected = {newer.event_id: 2.0, fixed.event_id: 3.0}
    wait_for(lambda: current_values(clickhouse_settings) == expected, 40, "the replayed letter")

    by_id = runner.invoke(app, ["dead-letters", "replay", "--id", letter_id("u/1/1")])
    assert by_id.exit_code == 0, by_id.output
    wait_for(lambda: current_values(clickhouse_settings) == {**expected, other.event_id: 4.0}, 40, "by id")
    assert runner.invoke(app, ["dead-letters", "replay"]).exit_code != 0  # no selection: refused
