"""Faust's aiokafka transport with two changes: a correct changelog end offset, a shorter fetch wait.

**End offsets (table recovery).** Faust recovers a table by reading its changelog up to the end
offset that ``ListOffsets(latest)`` reports. Tansu 0.6 answers with the base offset of the
partition's *last batch* + 1 (measured: a 5-record batch at offsets 0-4 gives 1, a 7-record
batch at 6-12 gives 7), so recovery stopped early and lost state whenever the changelog was
produced in multi-record batches. That is why Faust's producer was limited to one record per
batch, which capped the changelog at about 3,000 records/s on Tansu. The high watermark in a
*Fetch* response is correct on Tansu (measured: 5, 6, 13, 16 for those batches), and on Kafka
both answers are equal. So the end offset used for recovery is
``max(ListOffsets, Fetch high watermark read from ListOffsets - 1)``: correct on both, and never
lower than what Faust used before. The changelog can then be produced in normal batches.

**Delivery without four tasks per message.** Faust's fetcher hands every message to the
conductor with ``Service.wait_first(callback(message), suspend_flow.wait())``, which creates four
tasks (the callback, the suspend, stopped and crashed events), waits, and cancels three of them:
measured as the largest single cost in the worker's event loop. The callback almost always
finishes without suspending (the stream's queue has room). ``Consumer.wait_first`` therefore
first runs the callback up to its first suspension; if it finished, that is the result (the
same one ``wait_first`` gives when the callback completes first); if it suspended (backpressure,
flow control), the rest of it runs in a task and Faust's ``wait_first`` decides as before.

**Fetch wait.** Faust hard-codes ``fetch_max_wait_ms=1500`` for its worker consumer; it is made
configurable (``QUIVLY_STREAMS_FETCH_MAX_WAIT_MS``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any, ClassVar

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, AppT, ConsumerT, TransportT
from mode.services import WaitArgT, WaitResults
from mode.utils.times import Seconds

# How long a recovery waits for the fetch that corrects an end offset before giving up (raising:
# a recovery with a too-low end offset would silently lose table state).
END_OFFSET_FETCH_TIMEOUT_S = 30.0


def corrected_end_offsets(listed: Mapping[TP, int], fetched_highwaters: Mapping[TP, int]) -> dict[TP, int]:
    """The end offset of each partition: never below the listed one, raised to the fetch's."""
    return {tp: max(offset, fetched_highwaters.get(tp, offset)) for tp, offset in listed.items()}


async def fetch_highwaters(
    consumer: aiokafka.AIOKafkaConsumer, listed: Mapping[TP, int], timeout_s: float
) -> dict[TP, int]:
    """High watermarks from Fetch responses, reading each non-empty partition at ``listed - 1``."""
    wanted = {tp: offset for tp, offset in listed.items() if offset and offset > 0}
    if not wanted:
        return {}
    partitions = [aiokafka.TopicPartition(tp.topic, tp.partition) for tp in wanted]
    consumer.assign(partitions)
    for partition in partitions:
        consumer.seek(partition, wanted[TP(partition.topic, partition.partition)] - 1)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    found: dict[TP, int] = {}
    while len(found) < len(partitions):
        if loop.time() > deadline:
            missing = sorted(set(wanted) - set(found))
            raise RuntimeError(f"no fetch response to correct the end offsets of {missing}")
        await consumer.getmany(*partitions, timeout_ms=500, max_records=1)
        for partition in partitions:
            highwater = consumer.highwater(partition)
            if highwater is not None:
                found[TP(partition.topic, partition.partition)] = highwater
    return found


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read when the consumer starts (the app sets it after construction; see ``streams.app``).
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

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def highwaters(self, *partitions: TP) -> Mapping[TP, int]:
        """End offsets for table recovery, corrected from Fetch high watermarks (see module doc)."""
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


def make_transport(app: AppT, urls: Any) -> TransportT:
    return Transport(urls, app)
