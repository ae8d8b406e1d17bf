"""Batches of events taken straight from the agent stream's channel queue, acked by hand.

Faust's ``Stream`` iteration (and ``noack_take`` on top of it) costs per event an event-loop
round (``await asyncio.sleep(0)``), sensor calls, a processor coroutine and the take buffer's
events. The agent needs none of that: it reads whole batches. ``Intake`` drains the queue that
Faust's conductor fills for the agent's stream (``stream.channel.queue``: the stream's channel
is already the iterator channel registered with the conductor by ``app.stream``) and does, per
event, what ``Stream._py_aiter`` of faust-streaming 0.15.3 does before yielding it:

* raise an error that was thrown into the channel;
* skip (and ack) an event of an older consumer generation or taken while flow control is
  suspended (a rebalance: Faust drops those events the same way);
* track the message as unacked in the consumer (``Consumer.track_message`` inlined, as Faust
  does), which is what makes a rebalance wait for it and keeps commits below it.

``ack`` does what ``Stream.ack`` does (``event.ack()``, for a whole batch under one lock): it
marks the offset as safe to commit once no other stream holds the message. Nothing is acked
automatically. Not done: the sensor calls (``on_message_in``/``out``,
``on_stream_event_in``/``out``): they only feed Faust's monitor statistics (the web server is
off).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import faust
from faust.events import Event
from faust.types import EventT
from faust.types.tuples import ack_lock

from streams.faust_internals import queue_errors

# How often a partly filled batch checks whether it may close.
POLL_S = 0.005


class Intake:
    def __init__(self, stream: faust.Stream, max_rows: int, max_seconds: float, linger_s: float) -> None:
        self._app = stream.app
        channel: Any = stream.channel
        self._queue = channel.queue
        self._max_rows = max_rows
        self._max_seconds = max_seconds
        self._linger_s = min(linger_s, max_seconds)
        self._add_unacked = self._app.consumer.unacked.add
        self._acking_topics = self._app.topics.acking_topics

    async def next_batch(self) -> list[EventT]:
        """The next batch (never empty): closes when full or ``linger_s`` old.

        Events already waiting when it starts arrived while the previous batch was written: such
        a batch closes as soon as it has taken them (low lag at low rates, big batches under load).
        """
        queue = self._queue
        batch: list[EventT] = []
        first_at = 0.0
        backlog = not queue.empty()
        while True:
            if not batch:
                self._take([await queue.get()], batch)  # raises an error thrown into the channel
                first_at = time.monotonic() - (self._linger_s if backlog else 0.0)
            if len(batch) < self._max_rows and not queue.empty():
                self._drain(batch)
            if batch:
                age = time.monotonic() - first_at
                if len(batch) >= self._max_rows or age >= self._linger_s:
                    return batch
                await asyncio.sleep(POLL_S)

    def _drain(self, batch: list[EventT]) -> None:
        queue = self._queue
        errors = queue_errors(queue)
        items = []
        get = queue.get_nowait
        for _ in range(min(self._max_rows - len(batch), queue.qsize())):
            if errors:
                raise errors.popleft()
            items.append(get())
        self._take(items, batch)

    def _take(self, items: list[Any], batch: list[EventT]) -> None:
        """Adds the events of ``items`` to ``batch``, tracked as unacked (no awaits: consistent)."""
        active = self._app.flow_control.is_active()
        generation = self._app.consumer_generation_id
        acking_topics = self._acking_topics
        add_unacked = self._add_unacked
        append = batch.append
        for item in items:
            if not isinstance(item, Event):
                continue  # not an event (a value sent to the channel in-process): nothing to commit
            message = item.message
            if not active or message.generation_id != generation:
                item.ack()  # as Faust does with an event of an older generation
                continue
            if not message.tracked and message.topic in acking_topics:
                message.tracked = True
                add_unacked(message)
            append(item)

    def ack(self, events: Sequence[EventT]) -> None:
        """``Event.ack`` of every event, under one acquisition of Faust's (reentrant) ack lock.

        ``Event.ack`` -> ``Message.ack`` takes the lock twice per event (the test-and-set and the
        decref); this is the same decision for a whole batch: the last reference's ack goes to
        ``Message.on_final_ack``, i.e. ``Consumer.ack``, which marks the offset safe to commit.
        """
        consumer = self._app.consumer
        with ack_lock:
            for event in events:
                message = event.message
                if message.acked:
                    continue
                message.refcount = refcount = max(message.refcount - 1, 0)
                if not refcount:
                    message.on_final_ack(consumer)
