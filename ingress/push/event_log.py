"""The Kafka producer adapter: writes the records of one push and waits for every acknowledgement."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from core.settings import KafkaSettings
from ingress.push.partitioner import KeyPartitioner
from ingress.settings import IngressSettings

log = logging.getLogger(__name__)


class EventLogUnavailable(Exception):
    """The broker did not acknowledge every record in time (or is not reachable at all)."""


class KafkaEventLog:
    """An idempotent ``acks=all`` producer, started in the background and retried until it connects.

    ``write`` returns only when every record is acknowledged; otherwise it raises
    ``EventLogUnavailable`` within ``produce_timeout_s``. Records of one key go to one partition in
    call order (the producer keeps per-partition order, idempotence keeps it across retries).
    """

    def __init__(self, kafka: KafkaSettings, settings: IngressSettings) -> None:
        self.kafka = kafka
        self.settings = settings
        self.topic = kafka.usage_topic
        self._producer: AIOKafkaProducer | None = None
        self._connector: asyncio.Task[None] | None = None
        self.idempotent = settings.producer_idempotence != "off"
        self.partitioner = KeyPartitioner()

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
        """An answer other than "unreachable" while idempotent in ``auto`` mode: a broker refusal."""
        return (
            not isinstance(error, KafkaConnectionError)
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
        producer = self._producer
        if producer is None:
            raise EventLogUnavailable("the event log is not connected")
        try:
            await asyncio.wait_for(self._send_all(producer, records), timeout=self.settings.produce_timeout_s)
        except TimeoutError as exc:
            raise EventLogUnavailable("the event log did not acknowledge in time") from exc
        except Exception as exc:
            raise EventLogUnavailable(f"the event log refused the write: {exc}") from exc

    async def _send_all(self, producer: AIOKafkaProducer, records: list[tuple[bytes, bytes]]) -> None:
        """One batch per partition (split when full), in request order: far less per-record work
        than ``send`` per record, same partitioner (murmur2 of the key, as every Kafka client)."""
        topic = self.topic
        partitions = sorted(await producer.partitions_for(topic))
        count = len(partitions)
        by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
        partition_for = self.partitioner.partition_for
        for key, value in records:
            partition = partitions[partition_for(key, count)]
            by_partition.setdefault(partition, []).append((key, value))
        futures = []
        for partition, items in by_partition.items():
            batch = producer.create_batch()
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)
