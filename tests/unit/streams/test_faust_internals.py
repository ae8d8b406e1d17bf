"""Contract tests: each patch of ``streams.faust_internals`` against the installed Faust/aiokafka.

One test per patch (numbered as in the module). They fail when an upgrade moves or renames what a
patch relies on; fix the patch, then bump ``PINNED`` and pyproject.toml together.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from pathlib import Path
from typing import Any

import aiokafka
import faust
import faust.transport.consumer
import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode import Service
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from streams import faust_internals as internals


def make_app(tmp_path: Path, store: str = "memory://") -> internals.App:
    return internals.App(
        "contract-test", broker="kafka://127.0.0.1:1", store=store, datadir=str(tmp_path), autodiscover=False
    )


def test_0_the_pinned_versions_are_installed_and_others_are_refused() -> None:
    internals.check_versions()
    assert internals.version_problems(internals.PINNED) == []
    problems = internals.version_problems({"faust-streaming": "0.16.0", "aiokafka": None})
    assert problems == ["faust-streaming 0.16.0 (needs 0.15.3)", "aiokafka is not installed (needs 0.14.0)"]


async def test_1_the_app_uses_our_transports_and_does_not_wait_for_acks_while_stopping(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    assert isinstance(app.transport, internals.Transport)
    assert isinstance(app.producer_transport, internals.Transport)
    assert app.transport.Consumer is internals.Consumer
    assert "_consumer_wait_empty" in vars(faust.App)  # the hook Faust calls on revoke and on stop

    class NeverEmpty:
        waited = False

        async def wait_empty(self) -> None:
            self.waited = True
            await asyncio.sleep(3600)

    consumer: Any = NeverEmpty()
    waiting = asyncio.ensure_future(app._consumer_wait_empty(consumer, logging.getLogger()))
    await asyncio.sleep(0.05)
    assert consumer.waited and not waiting.done()  # running (a rebalance): Faust's wait as before
    waiting.cancel()
    app._stopped.set()  # what ``Service.stop`` sets first; ``should_stop`` reads it
    assert app.should_stop
    await asyncio.wait_for(app._consumer_wait_empty(NeverEmpty(), logging.getLogger()), 1)  # type: ignore[arg-type]


def test_2_consumer_highwaters_is_the_recovery_hook() -> None:
    assert inspect.iscoroutinefunction(faust_aiokafka.Consumer.highwaters)
    assert "self.in_transaction = " in inspect.getsource(faust.transport.consumer.Consumer.__init__)
    assert callable(faust_aiokafka.server_list) and callable(faust_aiokafka.credentials_to_aiokafka_auth)


async def test_3_wait_first_and_the_service_events_it_checks() -> None:
    service = Service()
    assert not service._stopped.is_set() and not service._crashed.is_set()
    parameters = inspect.signature(Service.wait_first).parameters
    assert list(parameters)[:2] == ["self", "coros"] and "timeout" in parameters
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    assert hasattr(future, "_asyncio_future_blocking")  # what ``_finish`` resets, as a Task does


async def test_4_the_fetch_wait_reaches_the_fetcher() -> None:
    consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=1500)
    assert consumer._fetch_max_wait_ms == 1500
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in inspect.getsource(aiokafka.AIOKafkaConsumer.start)
    assert "_create_worker_consumer" in vars(faust_aiokafka.AIOKafkaConsumerThread)
    assert "_new_consumer_thread" in vars(faust_aiokafka.Consumer)


async def test_5_raw_schema_builds_the_event_faust_builds(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    raw = internals.RawSchema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    stock: faust.Schema = faust.Schema(
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    message = faust.types.Message(
        "topic",
        0,
        7,
        0.0,
        0,
        [("h", b"1")],
        b"key",
        b"value",
        None,
        serialized_key_size=3,
        serialized_value_size=5,
    )
    ours, theirs = await raw.compile(app)(message), await stock.compile(app)(message)
    assert (ours.key, ours.value, ours.headers, ours.message) == (
        theirs.key,
        theirs.value,
        theirs.headers,
        message,
    )


async def test_6_errors_thrown_into_a_channel_queue() -> None:
    queue: ThrowableQueue = ThrowableQueue(flow_control=FlowControlEvent())
    error = ValueError("thrown")
    await queue.throw(error)
    assert list(internals.queue_errors(queue)) == [error]


def test_7_one_rocksdb_database_per_partition(tmp_path: Path) -> None:
    app = make_app(tmp_path, store="rocksdb://")
    table = app.Table("contract", key_type=bytes, value_type=bytes, partitions=2)
    store = internals.rocksdb_store(table)
    assert store is not None
    db = internals.partition_db(store, 1)
    db.put(b"k", b"v")
    assert db.get([b"k", b"missing"]) == [b"v", None]
    store.set_persisted_offset(TP("changelog", 1), 41)
    assert store.persisted_offset(TP("changelog", 1)) == 41
    assert db.get(store.offset_key) == b"41" and store.partition_path(1).exists()


def test_8_fausts_aiokafka_producer(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with pytest.raises(Exception, match="not yet started"):
        internals.kafka_producer(app)  # the same call returns the started producer in the worker
    assert callable(aiokafka.AIOKafkaProducer.create_batch) and callable(aiokafka.AIOKafkaProducer.send_batch)


def test_9_the_current_event_is_what_faust_reads() -> None:
    event: Any = faust.Event.__new__(faust.Event)
    internals.enter_event(event)
    assert faust.current_event() is event
