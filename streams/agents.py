"""The replace agent: batch, plan, dead-letter, insert, store state, and only then ack.

Commit protocol. Faust commits, every ``commit_interval_s``, the highest *contiguous acked*
offset of each partition. The agent takes events straight from its stream's channel queue
(``streams.intake``; nothing is acked automatically) and acks a batch's events only after, in
this order:

1. poison records were delivered to the dead-letter topic (awaited),
2. every row of the batch was stored in ClickHouse or refused by it (``streams.sink``: transient
   errors are retried with backoff forever: no crash, no ack, hence no commit while ClickHouse is
   down; the consumer pauses once its buffer is full), and the refused rows' records were
   delivered to the dead-letter topic with the server's error,
3. the new key states were written to the table and its changelog records are in the log
   (``streams.state``).

So an offset is committed only for records whose rows are in ClickHouse. A crash anywhere
before the commit makes the records come back; ``streams.versioning`` explains why they then
change nothing.

Pipelining. The agent's loop collects a batch (``streams.intake``), plans it (decode, versions,
rows; dead letters delivered) and starts its insert; a task then finishes it (awaits the insert,
stores the states, acks) while the loop collects, plans and starts inserting the next one. So
at most two inserts run at once (ClickHouse's work overlaps the worker's; the order of two
inserts does not matter, versions decide), but states are stored and events acked strictly
batch after batch: batch N+1 is finished only after batch N stored its states and acked its
events (acks stay in log order). Batch N+1 is planned on top of batch N's states even while N
is still being written (they are passed along as "unstored" states): planning always sees the
states of every batch before it. Nothing of N+1 is acked before N is, so a crash replays both.
A batch closes when it holds ``batch_max_rows`` records, when it is ``batch_max_seconds`` old,
or, once the batch before it is finished, when it is at least ``batch_linger_s`` old (low lag
at low rates, big batches under load).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import faust
from faust.types import EventT, StreamT, TableT, TopicT

from core.dead_letters import ERROR_HEADER, SOURCE_HEADER
from streams import metrics
from streams.backoff import backoff_delays
from streams.batch import BatchPlan, DeadLetter, plan_batch
from streams.intake import Intake
from streams.settings import StreamsSettings
from streams.sink import ClickHouseSink, RefusedRow
from streams.state import TableState, states_with_events
from streams.versioning import KeyState

log = logging.getLogger(__name__)


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
        writing: asyncio.Task[None] | None = None
        inserting: asyncio.Task[list[RefusedRow]] | None = None
        unstored: dict[bytes, KeyState] = {}  # states of the batch being written, not yet stored
        try:
            while True:
                try:
                    events = await intake.next_batch(writing)
                except StopAsyncIteration:  # Faust ends the channel when the stream stops
                    break
                started = time.monotonic()
                if writing is None or writing.done():
                    # Stored (or nothing written): the table is the truth. Never reuse states of
                    # an earlier batch later, e.g. after a rebalance moved its partitions away.
                    unstored = {}
                plan = plan_batch([event.message for event in events], state.load(events, unstored))
                planned = time.monotonic() - started
                await _send_dead_letters(plan.dead_letters, events, dead_letters, settings)
                # The insert starts now, while the previous batch may still be inserting, storing or
                # acking: ClickHouse's work overlaps the worker's (versions make the order of the
                # two inserts irrelevant); states and acks still follow the log order below.
                inserting = asyncio.create_task(sink.write(plan.rows)) if plan.rows else None
                if writing is not None:
                    await writing
                unstored = {key: key_state for key, (key_state, _) in plan.states.items()}
                writing = asyncio.create_task(
                    write_batch(intake, events, plan, inserting, state, planned, dead_letters, settings)
                )
            if writing is not None:
                await writing
        finally:
            for task in (writing, inserting):
                if task is not None and not task.done():
                    task.cancel()  # nothing of that batch was acked: it is consumed again


async def _send_dead_letters(
    letters: Sequence[DeadLetter], events: Sequence[EventT], dead_letters: TopicT, retry: StreamsSettings
) -> None:
    """Produces each letter (original key and value, the reason in a header) and awaits delivery.

    A failed produce is retried with backoff (never a crash of the agent: its batch would stay
    tracked and unacked); nothing of the batch is acked before every letter is delivered.
    """
    for letter in letters:
        message = events[letter.index].message
        log.warning(
            "dead letter %s/%s@%s: %s", message.topic, message.partition, message.offset, letter.reason
        )
        headers = {
            ERROR_HEADER: letter.reason.encode(),
            SOURCE_HEADER: f"{message.topic}/{message.partition}/{message.offset}".encode(),
        }
        delays = backoff_delays(retry.retry_initial_s, retry.retry_max_s)
        while True:
            try:
                pending = await dead_letters.send(key=message.key, value=message.value, headers=headers)
                await pending
                break
            except Exception as exc:
                delay = next(delays)
                log.warning("dead letter produce failed: %s; retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)


async def write_batch(
    intake: Intake,
    events: list[EventT],
    plan: BatchPlan,
    inserting: asyncio.Task[list[RefusedRow]] | None,
    state: TableState,
    planned: float,
    dead_letters: TopicT,
    settings: StreamsSettings,
) -> None:
    """Insert (already started), dead-letter refused rows, store the states, ack."""
    started = time.monotonic()
    refused = await inserting if inserting is not None else []
    if refused:
        letters = [
            DeadLetter(plan.row_events[row.index], f"ClickHouse refused the row: {row.reason}")
            for row in refused
        ]
        await _send_dead_letters(letters, events, dead_letters, settings)
    inserted = time.monotonic()
    await state.store(states_with_events(plan.states, events))
    stored = time.monotonic()
    intake.ack(events)
    metrics.batch_acked(events, plan)
    log.info(
        "batch: %d records, %d rows, %d replays, %d dead letters, %d refused; plan %.3f s, insert %.3f s, "
        "table %.3f s, ack %.3f s",
        len(events),
        len(plan.rows),
        plan.replays,
        len(plan.dead_letters),
        len(refused),
        planned,
        inserted - started,
        stored - inserted,
        time.monotonic() - stored,
    )
