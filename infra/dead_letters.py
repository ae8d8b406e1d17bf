"""``quivly dead-letters list|replay``: see the records the streams worker could not store, and
re-produce chosen ones to the usage topic once the cause is fixed (e.g. a migration that widens a
column). Reads ``usage_dead_letters`` (migration 0065) and produces with a plain Kafka producer;
settings come from the environment (``QUIVLY_CLICKHOUSE_*``, ``QUIVLY_KAFKA_*``).

A replayed record is a new write of its key, applied at the end of the log. So that it does not
bring back an old value, a letter whose key has since been written again (a stored value ingested
later than the letter's record) is skipped unless ``--force``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from core.clickhouse import make_client
from core.dead_letters import REPLAYED_FROM_HEADER, StoredDeadLetter, select_dead_letters
from core.names import USAGE_EVENTS
from core.records import RecordError, UsageRecord
from core.settings import ClickHouseSettings, KafkaSettings

dead_letters_app = typer.Typer(help="List the streams worker's dead letters and replay them.")
console = Console()

ORG = typer.Option(None, "--org", help="Only this organization's dead letters")
SINCE = typer.Option(None, help="Dead-lettered at or after (RFC 3339)")
UNTIL = typer.Option(None, help="Dead-lettered before (RFC 3339)")


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an RFC 3339 date-time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _select(
    ids: Sequence[str], org: str | None, since: str | None, until: str | None, limit: int
) -> list[StoredDeadLetter]:
    client = make_client(ClickHouseSettings())
    try:
        return select_dead_letters(
            client, org_id=org, ids=ids, since=_moment(since), until=_moment(until), limit=limit
        )
    finally:
        client.close()


@dead_letters_app.command("list")
def list_command(
    org: str | None = ORG,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    limit: int = typer.Option(100, min=1, max=1000),
) -> None:
    """Dead letters, newest first: ID, organization, when, where from, why."""
    table = Table("id", "org", "dead-lettered at", "source", "reason")
    for letter in _select((), org, since, until, limit):
        at = letter.dead_lettered_at.isoformat(timespec="seconds")
        table.add_row(letter.letter_id, letter.org_id or "?", at, letter.source, letter.reason)
    console.print(table)


@dataclass(frozen=True)
class ReplayPlan:
    replay: list[StoredDeadLetter]
    superseded: list[StoredDeadLetter]


def plan_replay(letters: Sequence[StoredDeadLetter], latest_ingested_us: dict[str, int]) -> ReplayPlan:
    """Which letters to re-produce: not those whose key holds a value ingested after them.

    ``latest_ingested_us`` maps an event ID to the ingestion time of its stored value. A letter
    that is not a readable record is replayed as it is (it will be dead-lettered again unless the
    worker now accepts it).
    """
    replay, superseded = [], []
    for letter in letters:
        record = _record(letter)
        stored = latest_ingested_us.get(record.event_id) if record is not None else None
        if record is not None and stored is not None and stored > record.ingested_at_us:
            superseded.append(letter)
        else:
            replay.append(letter)
    return ReplayPlan(replay, superseded)


def _record(letter: StoredDeadLetter) -> UsageRecord | None:
    try:
        return UsageRecord.from_bytes(letter.record)
    except (RecordError, ValueError):
        return None


def _latest_ingested(letters: Sequence[StoredDeadLetter]) -> dict[str, int]:
    records = [r for r in (_record(letter) for letter in letters) if r is not None]
    if not records:
        return {}
    client = make_client(ClickHouseSettings())
    try:
        rows = client.query(
            "SELECT toString(event_id), toUnixTimestamp64Micro(ingested_at) "
            f"FROM {USAGE_EVENTS} FINAL WHERE (org_id, event_id) IN {{keys:Array(Tuple(String, UUID))}}",
            parameters={"keys": [(r.org_id, r.event_id) for r in records]},
        ).result_rows
    finally:
        client.close()
    return {str(event_id): int(ingested) for event_id, ingested in rows}


async def produce_letters(kafka: KafkaSettings, letters: Sequence[StoredDeadLetter]) -> None:
    """Re-produces each letter's original key and value to the usage topic (all delivered)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        pending = [
            await producer.send(
                kafka.usage_topic,
                key=letter.record_key,
                value=letter.record,
                headers=[(REPLAYED_FROM_HEADER, letter.letter_id.encode())],
            )
            for letter in letters
        ]
        for delivery in pending:
            await delivery
    finally:
        await producer.stop()


@dead_letters_app.command("replay")
def replay_command(
    ids: list[str] = typer.Option([], "--id", help="A dead letter's ID (repeat for several)"),
    org: str | None = ORG,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    force: bool = typer.Option(False, help="Also replay letters whose key was written again since"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be replayed"),
) -> None:
    """Re-produce chosen dead letters to the usage topic (after fixing why they failed)."""
    if not (ids or org or since or until):
        raise typer.BadParameter("choose letters with --id, --org, --since and/or --until")
    letters = _select(ids, org, since, until, limit=1_000_000)
    plan = ReplayPlan(list(letters), []) if force else plan_replay(letters, _latest_ingested(letters))
    for letter in plan.superseded:
        console.print(f"skipped {letter.letter_id}: its key was written again since (use --force)")
    if dry_run:
        console.print(f"would replay {len(plan.replay)} dead letter(s)")
        return
    asyncio.run(produce_letters(KafkaSettings(), plan.replay))
    console.print(f"replayed {len(plan.replay)} dead letter(s) to {KafkaSettings().usage_topic}")
