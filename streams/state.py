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
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import rocksdict
from faust.stores.rocksdb import Store as RocksDBStore
from faust.types import TP, AppT, EventT, TableT

from streams.backoff import backoff_delays
from streams.faust_internals import enter_event, kafka_producer, partition_db, rocksdb_store
from streams.versioning import KeyState

log = logging.getLogger(__name__)


class TableState:
    def __init__(
        self, app: AppT, table: TableT, retry_initial_s: float = 0.2, retry_max_s: float = 5.0
    ) -> None:
        self._app = app
        self._table = table
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s

    @property
    def _rocksdb(self) -> RocksDBStore | None:
        return rocksdb_store(self._table)

    def load(self, events: Sequence[EventT]) -> dict[bytes, KeyState]:
        """The states of the events' keys (keys without a state are absent)."""
        by_partition: dict[int, set[bytes]] = defaultdict(set)
        first_event: dict[int, EventT] = {}
        stored: dict[bytes, KeyState] = {}
        for event in events:
            message = event.message
            key = message.key
            if not isinstance(key, bytes):
                continue
            by_partition[message.partition].add(key)
            first_event.setdefault(message.partition, event)
        store = self._rocksdb
        for partition, key_set in by_partition.items():
            keys = list(key_set)
            if store is not None:
                values = partition_db(store, partition).get(keys)
            else:
                enter_event(first_event[partition])
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
                enter_event(event)
                self._table[key] = state.to_bytes()
            return
        by_partition: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
        for key, state, _ in states:
            by_partition[state.partition].append((key, state.to_bytes()))
        for partition, items in by_partition.items():
            batch = rocksdict.WriteBatch(raw_mode=True)
            for key, value in items:
                batch.put(key, value)
            partition_db(store, partition).write(batch)
        pending: dict[int, list[tuple[bytes, bytes]]] = dict(by_partition)
        delays = backoff_delays(self._retry_initial_s, self._retry_max_s)
        while pending:
            failed = await self._deliver_changelog(store, pending)
            pending = {partition: pending[partition] for partition in failed}
            if pending:
                delay = next(delays)
                log.warning("changelog produce failed: %s; retrying in %.1f s", failed, delay)
                await asyncio.sleep(delay)

    async def _deliver_changelog(
        self, store: RocksDBStore, by_partition: Mapping[int, list[tuple[bytes, bytes]]]
    ) -> dict[int, str]:
        """Sends every partition's records, then awaits them: the partitions that failed, and why.

        A failed partition is sent again whole: a changelog record twice is harmless (same key,
        same value; recovery keeps the last), and its persisted offset only moves forward.
        """
        failed: dict[int, str] = {}
        sent = []
        for partition, items in by_partition.items():
            try:
                sent.append(await self._send_changelog(partition, items))
            except Exception as exc:
                failed[partition] = repr(exc)
        for partition, deliveries in sent:
            try:
                for delivery, count in deliveries:
                    metadata = await delivery
                    topic_partition = TP(self._changelog_topic, partition)
                    store.set_persisted_offset(topic_partition, metadata.offset + count - 1)
            except Exception as exc:
                failed[partition] = repr(exc)
        return failed

    @property
    def _changelog_topic(self) -> str:
        return str(self._table.changelog_topic.get_topic_name())

    async def _send_changelog(
        self, partition: int, items: Sequence[tuple[bytes, bytes]]
    ) -> tuple[int, list[tuple[asyncio.Future[Any], int]]]:
        kafka = kafka_producer(self._app)  # the one Faust flushes before it commits
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


def states_with_events(
    planned: Mapping[bytes, tuple[KeyState, int]], events: Sequence[EventT]
) -> list[tuple[bytes, KeyState, EventT]]:
    return [(key, state, events[index]) for key, (state, index) in planned.items()]
