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

One batch at a time. While a batch is written, Faust keeps fetching into the stream's buffer, so
the next batch is ready when this one is acked. (Planning batch N+1 while N was written, with two
inserts in flight, measured no gain and cost an invariant: it is gone.) A batch closes when it
holds ``batch_max_rows`` records or is ``batch_linger_s`` old (``batch_max_seconds`` at most).

Failures. Dead-letter and changelog produces and ClickHouse's transient errors are retried where
they happen. Anything else that escapes a batch is a bug: the worker is stopped (crash-only), so
the batch's events, tracked but never acked, cannot stall the commits of their partitions; the
restarted worker consumes them again from the last commit, in log order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Protocol

import faust
from faust.types import EventT, StreamT, TableT, TopicT

from core.dead_letters import ERROR_HEADER, SOURCE_HEADER
from streams import metrics
from streams.backoff import backoff_delays
from streams.batch import BatchPlan, DeadLetter, plan_batch
from streams.intake import Intake
from streams.settings import StreamsSettings
from streams.sink import ClickHouseSink
from streams.state import TableState, states_with_events

log = logging.getLogger(__name__)

__all__ = ["ERROR_HEADER", "SOURCE_HEADER", "register_agents"]


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
        batches = BatchWriter(
            TableState(app, table, settings.retry_initial_s, settings.retry_max_s),
            sink,
            dead_letters,
            settings,
        )
        intake = Intake(stream, settings.batch_max_rows, settings.batch_max_seconds, settings.batch_linger_s)
        await run_batches(app, intake, batches)


class Batches(Protocol):
    async def next_batch(self) -> list[EventT]: ...
    def ack(self, events: Sequence[EventT]) -> None: ...


class Writer(Protocol):
    async def write(self, events: list[EventT]) -> BatchPlan: ...


class Crashable(Protocol):
    async def crash(self, reason: BaseException) -> None: ...


async def run_batches(app: Crashable, intake: Batches, batches: Writer) -> None:
    """The agent's loop: take a batch, write it, ack it; crash-only on anything unexpected.

    An error thrown into the channel or escaping a batch would otherwise end the agent, which
    Faust restarts with the batch's events tracked but never acked (their partitions' commits
    would stall for ever): the worker is stopped instead, and consumes them again after its
    restart, in log order.
    """
    while True:
        try:
            events = await intake.next_batch()
            plan = await batches.write(events)
        except StopAsyncIteration:  # Faust ends the channel when the stream stops
            return
        except Exception as exc:
            log.critical("the replace agent failed; stopping the worker (crash-only)", exc_info=True)
            await app.crash(exc)
            raise
        intake.ack(events)
        metrics.batch_acked(events, plan)


class BatchWriter:
    def __init__(
        self, state: TableState, sink: ClickHouseSink, dead_letters: TopicT, settings: StreamsSettings
    ) -> None:
        self._state = state
        self._sink = sink
        self._dead_letters = dead_letters
        self._settings = settings

    async def write(self, events: list[EventT]) -> BatchPlan:
        """Everything of a batch but the ack: plan, dead letters, insert, refused rows, states."""
        started = time.monotonic()
        plan = plan_batch([event.message for event in events], self._state.load(events))
        planned = time.monotonic()
        await send_dead_letters(plan.dead_letters, events, self._dead_letters, self._settings)
        refused = await self._sink.write(plan.rows) if plan.rows else []
        if refused:
            letters = [
                DeadLetter(plan.row_events[row.index], f"ClickHouse refused the row: {row.reason}")
                for row in refused
            ]
            await send_dead_letters(letters, events, self._dead_letters, self._settings)
            plan.dead_letters.extend(letters)  # counted as dead letters (metrics, quivly status)
        inserted = time.monotonic()
        await self._state.store(states_with_events(plan.states, events))
        log.info(
            "batch: %d records, %d rows, %d replays, %d dead letters (%d refused by ClickHouse); "
            "plan %.3f s, insert %.3f s, table %.3f s",
            len(events),
            len(plan.rows),
            plan.replays,
            len(plan.dead_letters),
            len(refused),
            planned - started,
            inserted - planned,
            time.monotonic() - inserted,
        )
        return plan


async def send_dead_letters(
    letters: Sequence[DeadLetter], events: Sequence[EventT], dead_letters: TopicT, retry: StreamsSettings
) -> None:
    """Produces each letter (original key and value, the reason in a header) and awaits delivery.

    A failed produce is retried with backoff; nothing of the batch is acked before every letter
    is delivered.
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
