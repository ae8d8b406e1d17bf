"""The replace agent: batch, plan, dead-letter, insert, store state, and only then ack.

Commit protocol. Faust commits, every ``commit_interval_s``, the highest *contiguous acked*
offset of each partition. The agent takes events straight from its stream's channel queue
(``streams.intake``; nothing is acked automatically) and acks a batch's events only after, in
this order:

1. poison records were delivered to the dead-letter topic (awaited),
2. the ClickHouse insert of the batch succeeded (retried with backoff forever: no crash,
   no ack, hence no commit while ClickHouse is down; the consumer pauses once its buffer is full),
3. the new key states were written to the table and its changelog records are in the log
   (``streams.state``).

So an offset is committed only for records whose rows are in ClickHouse. A crash anywhere
before the commit makes the records come back; ``streams.versioning`` explains why they then
change nothing.

Pipelining: a batch is handled in its own task while the intake collects the next one. At most
one batch is handled at a time and in order: the next starts only after the previous one stored
its states and acked its events, so planning always sees the states of the batch before, and
acks stay in log order. A batch closes when it holds ``batch_max_rows`` records, when it is
``batch_max_seconds`` old, or, as soon as the previous batch is done, when it is at least
``batch_linger_s`` old (low lag at low rates, big batches under load).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import faust
from faust.types import EventT, StreamT, TableT, TopicT

from streams.batch import BatchPlan, Incoming, plan_batch
from streams.intake import Intake
from streams.settings import StreamsSettings
from streams.sink import ClickHouseSink
from streams.state import TableState, states_with_events

log = logging.getLogger(__name__)

ERROR_HEADER = "quivly-error"
SOURCE_HEADER = "quivly-source"


def register_agents(
    app: faust.App,
    source: TopicT,
    dead_letters: TopicT,
    table: TableT,
    sink: ClickHouseSink,
    settings: StreamsSettings,
) -> None:
    @app.agent(source, name="usage-replace", concurrency=1)
    async def replace(stream: StreamT) -> None:
        assert isinstance(stream, faust.Stream)
        state = TableState(app, table)
        intake = Intake(stream, settings.batch_max_rows, settings.batch_max_seconds, settings.batch_linger_s)
        handling: asyncio.Task[None] | None = None
        try:
            while True:
                try:
                    events = await intake.next_batch(handling)
                except StopAsyncIteration:  # Faust ends the channel when the stream stops
                    break
                if handling is not None:
                    await handling
                handling = asyncio.create_task(handle_batch(intake, events, state, dead_letters, sink))
            if handling is not None:
                await handling
        finally:
            if handling is not None and not handling.done():
                handling.cancel()  # nothing of that batch was acked: it is consumed again


def _incoming(event: EventT) -> Incoming:
    message = event.message
    return Incoming(message.key, message.value, message.partition, message.offset)


async def _send_dead_letters(plan: BatchPlan, events: Sequence[EventT], dead_letters: TopicT) -> None:
    for letter in plan.dead_letters:
        message = events[letter.index].message
        log.warning(
            "dead letter %s/%s@%s: %s", message.topic, message.partition, message.offset, letter.reason
        )
        pending = await dead_letters.send(
            key=message.key,
            value=message.value,
            headers={
                ERROR_HEADER: letter.reason.encode(),
                SOURCE_HEADER: f"{message.topic}/{message.partition}/{message.offset}".encode(),
            },
        )
        await pending


async def handle_batch(
    intake: Intake,
    events: list[EventT],
    state: TableState,
    dead_letters: TopicT,
    sink: ClickHouseSink,
) -> None:
    started = time.monotonic()
    plan = plan_batch([_incoming(event) for event in events], state.load(events))
    planned = time.monotonic()
    await _send_dead_letters(plan, events, dead_letters)
    if plan.rows:
        await sink.write(plan.rows)
    inserted = time.monotonic()
    await state.store(states_with_events(plan.states, events))
    stored = time.monotonic()
    intake.ack(events)
    log.info(
        "batch: %d records, %d rows, %d replays, %d dead letters; plan %.3f s, insert %.3f s, "
        "table %.3f s, ack %.3f s",
        len(events),
        len(plan.rows),
        plan.replays,
        len(plan.dead_letters),
        planned - started,
        inserted - planned,
        stored - inserted,
        time.monotonic() - stored,
    )
