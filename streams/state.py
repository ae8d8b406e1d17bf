"""The replace-state table, read and written a whole batch at a time.

Faust's table API costs per key: a store lookup through the "current event" context, and per
write a RocksDB put, a ``FutureMessage`` through Faust's producer buffer for the changelog
record, and one more RocksDB put of the "persisted offset" when that record is acknowledged.
The worker reads and writes the states of a whole batch at once, with the same effects as
``table[key] = value`` of faust-streaming 0.15.3 (``Table.on_key_set``, ``Store._set``,
``Collection._on_changelog_sent``) for a non-global table without a partitioner (the
partition of a key is the partition of the event it came from):

1. the new values go into the partition's RocksDB database, in one ``WriteBatch`` per
   partition (keys and values are bytes with the raw codec: stored as is, exactly what
   Faust's own writes and its changelog recovery store);
2. the changelog records go to the same partition of the changelog topic through Faust's
   aiokafka producer, as multi-record batches (``send_batch``), and are awaited: the worker
   acks the batch's events only once its changelog is in the log (Faust itself only awaits it
   when it commits: its commit flushes the producer first);
3. per delivered changelog batch, the persisted offset of that partition is set once, to the
   offset of its last record (Faust sets it per record). It is written after the values, so it
   never claims data the store does not hold; recovery reads the changelog after it.

Stores other than RocksDB (``memory://``) use Faust's table API per key.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import rocksdict
from faust.stores.rocksdb import Store as RocksDBStore
from faust.streams import _current_event
from faust.types import TP, AppT, EventT, TableT

from streams.versioning import KeyState


class TableState:
    def __init__(self, app: AppT, table: TableT) -> None:
        self._app = app
        self._table = table

    @property
    def _rocksdb(self) -> RocksDBStore | None:
        store = self._table.data
        return store if isinstance(store, RocksDBStore) and store.use_rocksdict else None

    def load(self, events: Sequence[EventT], unstored: Mapping[bytes, KeyState]) -> dict[bytes, KeyState]:
        """The states of the events' keys (keys without a state are absent).

        ``unstored`` holds the states of the batch still being written (planned, not yet in the
        table): they are newer than the table's, so they are used as they are.
        """
        by_partition: dict[int, set[bytes]] = defaultdict(set)
        first_event: dict[int, EventT] = {}
        stored: dict[bytes, KeyState] = {}
        for event in events:
            message = event.message
            key = message.key
            if not isinstance(key, bytes):
                continue
            if key in unstored:
                stored[key] = unstored[key]
            else:
                by_partition[message.partition].add(key)
                first_event.setdefault(message.partition, event)
        store = self._rocksdb
        for partition, key_set in by_partition.items():
            keys = list(key_set)
            if store is not None:
                values = store._db_for_partition(partition).get(keys)
            else:
                _enter(first_event[partition])
                values = [self._table.get(key) for key in keys]
            for key, raw in zip(keys, values, strict=True):
                if raw is not None:
                    stored[key] = KeyState.from_bytes(raw)
        return stored

    async def store(self, states: Iterable[tuple[bytes, KeyState, EventT]]) -> None:
        """Stores the new states (table and changelog); returns once the changelog is in the log."""
        store = self._rocksdb
        if store is None:
            for key, state, event in states:
                _enter(event)
                self._table[key] = state.to_bytes()
            return
        by_partition: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
        for key, state, _ in states:
            by_partition[state.partition].append((key, state.to_bytes()))
        for partition, items in by_partition.items():
            batch = rocksdict.WriteBatch(raw_mode=True)
            for key, value in items:
                batch.put(key, value)
            store._db_for_partition(partition).write(batch)
        sent = [await self._send_changelog(partition, items) for partition, items in by_partition.items()]
        for partition, deliveries in sent:
            for delivery, count in deliveries:
                metadata = await delivery
                store.set_persisted_offset(TP(self._changelog_topic, partition), metadata.offset + count - 1)

    @property
    def _changelog_topic(self) -> str:
        return str(self._table.changelog_topic.get_topic_name())

    async def _send_changelog(
        self, partition: int, items: Sequence[tuple[bytes, bytes]]
    ) -> tuple[int, list[tuple[asyncio.Future[Any], int]]]:
        producer: Any = self._app.producer
        kafka = producer._ensure_producer()  # Faust's aiokafka producer (the one Faust flushes on commit)
        topic = self._changelog_topic
        deliveries: list[tuple[asyncio.Future[Any], int]] = []
        batch = kafka.create_batch()
        for key, value in items:
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: send, start another
                deliveries.append(
                    (await kafka.send_batch(batch, topic, partition=partition), batch.record_count())
                )
                batch = kafka.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        deliveries.append((await kafka.send_batch(batch, topic, partition=partition), batch.record_count()))
        return partition, deliveries


def _enter(event: EventT) -> None:
    # Faust's table API finds a key's partition (store shard, changelog partition) through the
    # "current event" context variable: make it the event the key came from (this task only).
    _current_event.set(weakref.ref(event))


def states_with_events(
    planned: Mapping[bytes, tuple[KeyState, int]], events: Sequence[EventT]
) -> list[tuple[bytes, KeyState, EventT]]:
    return [(key, state, events[index]) for key, (state, index) in planned.items()]
