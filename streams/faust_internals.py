"""Every use of a private Faust, mode or aiokafka attribute, in one place, for the pinned versions.

The worker relies on faust-streaming 0.15.3 and aiokafka 0.14.0 beyond their public API.
``check_versions()`` (called when the worker starts) refuses other versions with a clear error;
``tests/unit/streams/test_faust_internals.py`` has a contract test per patch below, run against
the installed libraries. When upgrading: read each patch against the new sources, adjust, bump
``PINNED`` and the pins in pyproject.toml together.

Patches (each says what it relies on):

1. ``App`` — the transports (``App._new_transport`` / ``_new_producer_transport``) and
   ``App._consumer_wait_empty``: while the app is *stopping*, it no longer waits for every
   tracked event to be acked (Faust's ``stream_wait_empty`` does, forever while ClickHouse is
   down; the unacked events are consumed again after the restart). On a rebalance it still waits.
2. ``Consumer.highwaters`` — end offsets for table recovery, corrected (``streams.end_offsets``).
3. ``Consumer.wait_first`` — delivery without four tasks per message. Faust's fetcher hands every
   message to the conductor with ``Service.wait_first(callback(message), suspend_flow.wait())``,
   which creates four tasks (the callback, the suspend, stopped and crashed events), waits, and
   cancels three of them: measured as the largest single cost in the worker's event loop. The
   callback is first run up to its first suspension; if it finished, that is the result (what
   ``wait_first`` gives when the callback completes first; ``Service._stopped``/``_crashed`` are
   checked as it does); if it suspended, the rest runs in a task (``_finish``, which sets
   ``Future._asyncio_future_blocking`` as a Task does) and Faust's ``wait_first`` decides.
4. ``ConsumerThread._create_worker_consumer`` / ``Consumer._new_consumer_thread`` — the fetch
   wait: Faust hard-codes ``fetch_max_wait_ms=1500``; aiokafka's ``_fetch_max_wait_ms`` is read
   when the consumer starts its fetcher (``QUIVLY_STREAMS_FETCH_MAX_WAIT_MS``).
5. ``RawSchema.compile`` — keys and values stay the message's bytes, without the serializer
   registry per message (``Schema.compile`` decodes through codec lookups; with the ``raw``
   codec both come out as the bytes anyway): the same event, built directly.
6. ``queue_errors`` — the stream channel queue's ``ThrowableQueue._errors`` (errors thrown into
   the channel), which ``streams.intake`` raises as ``Stream.__aiter__`` does.
7. ``partition_db`` — ``rocksdb.Store._db_for_partition``: one RocksDB database per partition,
   read with multi-get and written with a ``WriteBatch`` (``streams.state``).
8. ``kafka_producer`` — ``Producer._ensure_producer()``: Faust's aiokafka producer (the one Faust
   flushes before it commits), used for multi-record changelog batches.
9. ``enter_event`` — ``faust.streams._current_event``: Faust's table API finds a key's partition
   through the "current event" context variable (non-RocksDB stores only).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Coroutine, Mapping
from importlib import metadata
from typing import Any, ClassVar

import aiokafka
import faust
from faust.stores.rocksdb import Store as RocksDBStore
from faust.streams import _current_event
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, AppT, ConsumerT, EventT, TransportT
from mode.services import WaitArgT, WaitResults
from mode.utils.times import Seconds

from streams.end_offsets import END_OFFSET_FETCH_TIMEOUT_S, corrected_end_offsets, fetch_highwaters

PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


class UnsupportedLibraryVersion(RuntimeError):
    """Faust or aiokafka is not the version whose internals ``streams.faust_internals`` patches."""


def version_problems(installed: Mapping[str, str | None]) -> list[str]:
    return [
        f"{name} {installed.get(name) or 'is not installed'} (needs {wanted})"
        for name, wanted in PINNED.items()
        if installed.get(name) != wanted
    ]


def check_versions() -> None:
    installed: dict[str, str | None] = {}
    for name in PINNED:
        try:
            installed[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed[name] = None
    problems = version_problems(installed)
    if problems:
        raise UnsupportedLibraryVersion(
            "the streams worker patches internals of exactly these versions: "
            + "; ".join(problems)
            + ". Install the pinned versions, or re-check streams/faust_internals.py and bump PINNED."
        )


# 1. The app: our transports; no endless wait for acks while stopping.
class App(faust.App):
    fetch_max_wait_ms: int | None = None

    def _new_transport(self) -> TransportT:
        return Transport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> TransportT:
        return Transport(self.conf.broker_producer, self)

    async def _consumer_wait_empty(self, consumer: ConsumerT, logger: Any) -> None:
        if self.should_stop:
            return  # stopping: unacked events are simply consumed again after the restart
        await super()._consumer_wait_empty(consumer, logger)


# 4. The fetch wait.
class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        wait_ms = getattr(self.app, "fetch_max_wait_ms", None)
        if wait_ms is not None:
            consumer._fetch_max_wait_ms = wait_ms  # read when the consumer starts its fetcher
        return consumer


async def _finish(coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    """Drives a coroutine that already suspended once (on ``yielded``) to its end, as a Task would."""
    while True:
        if yielded is None:  # a bare ``yield`` (``asyncio.sleep(0)``)
            await asyncio.sleep(0)
        else:
            yielded._asyncio_future_blocking = False
            try:
                await yielded
            except asyncio.CancelledError as exc:
                if not yielded.cancelled():  # this task was cancelled: pass it on to the coroutine
                    try:
                        yielded = coro.throw(exc)
                    except StopIteration as stop:
                        return stop.value
                    continue
            except BaseException:
                pass  # the coroutine reads the outcome from the future when resumed
        try:
            yielded = coro.send(None)
        except StopIteration as stop:
            return stop.value


class Consumer(faust_aiokafka.Consumer):
    # 3. Delivery without four tasks per message.
    async def wait_first(self, *coros: WaitArgT, timeout: Seconds = None) -> WaitResults:  # type: ignore[assignment]
        first = coros[0] if coros else None
        if not asyncio.iscoroutine(first):
            return await super().wait_first(*coros, timeout=timeout)
        try:
            yielded = first.send(None)
        except StopIteration as stop:
            for other in coros[1:]:
                if asyncio.iscoroutine(other):
                    other.close()  # never started
            if self._stopped.is_set() or self._crashed.is_set():
                return WaitResults([], [], True)
            return WaitResults([first], [stop.value], False)
        return await super().wait_first(_finish(first, yielded), *coros[1:], timeout=timeout)

    # 4. The fetch wait.
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    # 2. Corrected end offsets.
    async def highwaters(self, *partitions: TP) -> Mapping[TP, int]:
        listed = await super().highwaters(*partitions)
        if self.in_transaction or not any(listed.values()):
            return listed  # empty partitions: nothing to correct
        conf = self.app.conf
        probe = aiokafka.AIOKafkaConsumer(
            bootstrap_servers=faust_aiokafka.server_list(
                self.transport.url, faust_aiokafka.Transport.default_port
            ),
            client_id=f"{conf.broker_client_id}-end-offsets",
            enable_auto_commit=False,
            request_timeout_ms=int(conf.broker_request_timeout * 1000),
            fetch_max_wait_ms=100,
            **faust_aiokafka.credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
        )
        await probe.start()
        try:
            fetched = await fetch_highwaters(probe, listed, END_OFFSET_FETCH_TIMEOUT_S)
        finally:
            await probe.stop()
        corrected = corrected_end_offsets(listed, fetched)
        raised = {tp: (listed[tp], end) for tp, end in corrected.items() if end != listed[tp]}
        if raised:
            self.log.info("end offsets corrected from Fetch high watermarks (listed, fetched): %r", raised)
        return corrected


class Transport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[ConsumerT]] = Consumer


# 5. Raw keys and values.
class RawSchema(faust.Schema):
    def compile(self, app: AppT, **_: Any) -> Any:
        create_event = app.create_event

        async def decode(message: Any, *, propagate: bool = False) -> Any:
            return create_event(message.key, message.value, message.headers, message)

        return decode


# 6. Errors thrown into a stream's channel.
def queue_errors(queue: Any) -> deque[BaseException]:
    errors: deque[BaseException] = queue._errors
    return errors


# 7. RocksDB per partition.
def rocksdb_store(table: Any) -> RocksDBStore | None:
    """The table's RocksDB store when it uses rocksdict (multi-get, ``WriteBatch``), else None."""
    store = table.data
    return store if isinstance(store, RocksDBStore) and store.use_rocksdict else None


def partition_db(store: RocksDBStore, partition: int) -> Any:
    return store._db_for_partition(partition)


# 8. Faust's aiokafka producer.
def kafka_producer(app: AppT) -> aiokafka.AIOKafkaProducer:
    producer: Any = app.producer
    return producer._ensure_producer()


# 9. The current event (Faust's table API, non-RocksDB stores).
def enter_event(event: EventT) -> None:
    _current_event.set(weakref.ref(event))
