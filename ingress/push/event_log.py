"""The Kafka producer adapter: writes the records of one push and waits for every acknowledgement."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError, UnknownError, UnsupportedVersionError

from core.settings import KafkaSettings
from ingress.push.partitioner import KeyPartitioner
from ingress.settings import IngressSettings

log = logging.getLogger(__name__)


# What a broker without idempotent producers answers to InitProducerId (an old Kafka: unsupported
# version; Tansu 0.6: unknown error). Anything else (authorization, authentication, a timeout) is
# retried with idempotence kept: it says nothing about what the broker supports.
_NO_IDEMPOTENCE_SUPPORT = (UnknownError, UnsupportedVersionError)
# Failures of the broker or the network: the push is answered 503. Anything else is a bug.
_TRANSPORT_ERRORS = (KafkaError, OSError)


class EventLogUnavailable(Exception):
    """The broker did not acknowledge every record in time (or is not reachable at all).

    ``maybe_stored``: some records were handed to the producer, which may still deliver them (the
    outcome is unknown); false means none were, so nothing of the write can be stored.
    """

    def __init__(self, message: str, maybe_stored: bool) -> None:
        super().__init__(message)
        self.maybe_stored = maybe_stored


Batches = dict[int, list[Any]]  # per partition, the producer's batches (aiokafka BatchBuilder) in order


class _Attempt:
    """Whether any batch of one write has been handed to the producer yet."""

    handed_over = False


class KafkaEventLog:
    """An idempotent ``acks=all`` producer, started in the background and retried until it connects.

    ``write`` returns only when every record is acknowledged; otherwise it raises
    ``EventLogUnavailable`` within ``produce_timeout_s``. Records of one key go to one partition in
    call order (the producer keeps per-partition order, idempotence keeps it across retries).

    Load is back-pressure, not an error: the partitions of a write are sent concurrently, and each
    batch waits its turn for its partition's slot in the producer (aiokafka holds one pending batch
    per partition; its own wait for that slot gives up after a share of the request timeout that
    shrinks with every wake-up, so many writers racing for one partition used to fail after ~1 s).
    Writers queue per partition in arrival order, and only ``produce_timeout_s`` bounds the wait.
    """

    def __init__(self, kafka: KafkaSettings, settings: IngressSettings) -> None:
        self.kafka = kafka
        self.settings = settings
        self.topic = kafka.usage_topic
        self._producer: AIOKafkaProducer | None = None
        self._connector: asyncio.Task[None] | None = None
        self.idempotent = settings.producer_idempotence != "off"
        self.partitioner = KeyPartitioner()
        self._partition_turns: dict[int, asyncio.Lock] = {}

    def _new_producer(self, idempotent: bool) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.kafka.bootstrap_servers,
            acks="all",
            enable_idempotence=idempotent,
            linger_ms=self.settings.producer_linger_ms,
            max_batch_size=self.settings.producer_max_batch_bytes,
            max_request_size=self.settings.producer_max_request_bytes,
            compression_type=self.settings.producer_compression,
            request_timeout_ms=max(1000, int(self.settings.produce_timeout_s * 1000)),
            client_id="quivly-ingress",
        )

    @property
    def ready(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        """Connects in the background; pushes answer 503 until the broker is reachable."""
        self._connector = asyncio.create_task(self._connect_forever(), name="kafka-producer-connect")

    async def _connect_forever(self) -> None:
        delay = 0.2
        while True:
            producer = self._new_producer(self.idempotent)
            try:
                await producer.start()
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await producer.stop()
                if self._may_drop_idempotence(exc):
                    # The broker answered but refused InitProducerId: run without idempotence
                    # (aiokafka keeps one in-flight batch per partition, so order is still kept).
                    log.warning("broker refused the idempotent producer (%r); producing without it", exc)
                    self.idempotent = False
                    continue
                log.warning("Kafka producer cannot connect (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._producer = producer
            return

    def _may_drop_idempotence(self, error: Exception) -> bool:
        """In ``auto`` mode, only a broker that does not support idempotent producers turns it off."""
        return (
            isinstance(error, _NO_IDEMPOTENCE_SUPPORT)
            and self.idempotent
            and self.settings.producer_idempotence == "auto"
        )

    async def wait_ready(self, timeout_s: float) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not self.ready and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return self.ready

    async def stop(self) -> None:
        if self._connector is not None and not self._connector.done():
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self._producer is not None:
            producer, self._producer = self._producer, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), timeout=self.settings.produce_timeout_s)

    async def write(self, records: list[tuple[bytes, bytes]]) -> None:
        """Produces ``records`` (partitioned and batched here, on the event loop)."""
        await self._within_deadline(lambda producer, attempt: self._send_all(producer, records, attempt))

    async def _send_all(
        self, producer: AIOKafkaProducer, records: list[tuple[bytes, bytes]], attempt: _Attempt
    ) -> None:
        partitions = sorted(await producer.partitions_for(self.topic))
        await self._hand_over_all(producer, self._batches(producer, records, partitions), attempt)

    async def partitions(self) -> list[int]:
        """The topic's partitions, for ``batches``."""
        partitions: list[int] = []

        async def read(producer: AIOKafkaProducer, attempt: _Attempt) -> None:
            partitions.extend(sorted(await producer.partitions_for(self.topic)))

        await self._within_deadline(read)
        return partitions

    def batches(self, records: list[tuple[bytes, bytes]], partitions: list[int]) -> Batches:
        """The producer's batches of ``records``: pure CPU, safe in a worker thread, so that a
        large write (a warehouse page) does not hold the event loop. ``write_batches`` sends them."""
        producer = self._producer
        if producer is None:
            raise EventLogUnavailable("the event log is not connected", maybe_stored=False)
        return self._batches(producer, records, partitions)

    async def write_batches(self, batches: Batches) -> None:
        """What ``write`` does with records, for records already made into ``batches``."""

        await self._within_deadline(lambda producer, attempt: self._hand_over_all(producer, batches, attempt))

    async def _within_deadline(self, send: Callable[[AIOKafkaProducer, _Attempt], Awaitable[None]]) -> None:
        """Runs ``send`` within ``produce_timeout_s``; broker failures become ``EventLogUnavailable``."""
        producer = self._producer
        if producer is None:
            raise EventLogUnavailable("the event log is not connected", maybe_stored=False)
        attempt = _Attempt()
        try:
            await asyncio.wait_for(send(producer, attempt), timeout=self.settings.produce_timeout_s)
        except TimeoutError as exc:
            raise EventLogUnavailable(
                "the event log did not acknowledge in time", attempt.handed_over
            ) from exc
        except ExceptionGroup as group:
            bug = next((e for e in group.exceptions if not isinstance(e, _TRANSPORT_ERRORS)), None)
            if bug is not None:
                raise bug from group
            raise EventLogUnavailable(
                f"the event log refused the write: {group.exceptions[0]!r}", attempt.handed_over
            ) from group
        except _TRANSPORT_ERRORS as exc:
            raise EventLogUnavailable(
                f"the event log refused the write: {exc!r}", attempt.handed_over
            ) from exc

    def _batches(
        self, producer: AIOKafkaProducer, records: list[tuple[bytes, bytes]], partitions: list[int]
    ) -> Batches:
        """Batches per partition (split when full), in request order: far less per-record work
        than ``send`` per record, same partitioner (murmur2 of the key, as every Kafka client)."""
        by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
        indexes = self.partitioner.partitions_for([key for key, _ in records], len(partitions))
        for record, index in zip(records, indexes, strict=True):
            by_partition.setdefault(partitions[index], []).append(record)
        batches: Batches = {}
        for partition, items in by_partition.items():
            batch = producer.create_batch()
            filled = batches[partition] = [batch]
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
                    filled.append(batch)
        return batches

    async def _hand_over_all(self, producer: AIOKafkaProducer, batches: Batches, attempt: _Attempt) -> None:
        """Partitions concurrently, each one's batches in order; returns once all are acknowledged."""
        async with asyncio.TaskGroup() as group:
            for partition, filled in batches.items():
                group.create_task(self._send_partition(producer, partition, filled, attempt))

    async def _send_partition(
        self, producer: AIOKafkaProducer, partition: int, batches: list[Any], attempt: _Attempt
    ) -> None:
        deliveries = [await self._hand_over(producer, batch, partition, attempt) for batch in batches]
        for delivery in deliveries:
            await delivery

    async def _hand_over(
        self, producer: AIOKafkaProducer, batch: Any, partition: int, attempt: _Attempt
    ) -> asyncio.Future[object]:
        """Queues ``batch`` for the partition; returns the future of its acknowledgement."""
        turn = self._partition_turns.setdefault(partition, asyncio.Lock())
        async with turn:  # asyncio.Lock wakes waiters in arrival order
            while True:
                try:
                    delivery: asyncio.Future[object] = await producer.send_batch(
                        batch, self.topic, partition=partition
                    )
                except KafkaTimeoutError:
                    # No slot freed within aiokafka's own wait (the batch was not taken): wait
                    # again; the write's deadline is what bounds it.
                    continue
                attempt.handed_over = True
                return delivery
