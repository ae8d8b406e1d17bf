"""Local table state that no longer matches the log is detected and rebuilt, before Faust starts.

The worker's RocksDB state remembers, per partition, the changelog offset it last persisted.
When the log it came from is gone (a fresh local broker with an old data directory, a recreated
changelog topic), that offset is at or past the changelog's end: Faust would either stop with a
``ConsistencyError`` or skip the new changelog's records on recovery. Such a partition's local
database is removed before the worker starts; Faust then recovers it from the changelog that does
exist (possibly empty).

Why that is correct: the durable truth is the log plus ClickHouse. States recovered from the
current changelog are the ones this log's writes produced. A key without a state gets
``version = ingested_at_us`` (``streams.versioning``, property 3), which is above every version
already in ClickHouse for that key, since every earlier write was ingested before it; so rows
written after the rebuild still win, and nothing has to be read back from ClickHouse.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path

import aiokafka
from aiokafka.admin import AIOKafkaAdminClient
from faust.types import TP

from core.settings import KafkaSettings
from streams.end_offsets import END_OFFSET_FETCH_TIMEOUT_S, corrected_end_offsets, fetch_highwaters

log = logging.getLogger(__name__)


def stale_partitions(persisted: Mapping[int, int], end_offsets: Mapping[int, int]) -> list[int]:
    """Partitions whose persisted offset the changelog does not have (pure).

    A persisted offset is the offset of a changelog record, so a consistent one is below the
    partition's end offset; a partition missing from ``end_offsets`` has no changelog at all.
    """
    return sorted(p for p, offset in persisted.items() if offset >= end_offsets.get(p, 0))


def discard_unopenable(paths: Mapping[int, Path]) -> list[int]:
    """Removes the partition databases RocksDB cannot open; returns their partitions.

    A worker killed (SIGKILL) while RocksDB was creating a partition's database leaves a directory
    without its ``CURRENT`` file: every later start would fail opening it. Such a database holds
    no state that the changelog does not (its first write had not been made durable yet), so it is
    rebuilt from the changelog like a stale one.
    """
    import rocksdict

    discarded: list[int] = []
    for partition, path in paths.items():
        if not path.exists():
            continue
        try:
            rocksdict.Rdict(
                str(path), rocksdict.Options(raw_mode=True), access_type=rocksdict.AccessType.read_only()
            ).close()
        except Exception as exc:  # rocksdict raises a bare Exception with RocksDB's message
            log.warning(
                "local state of partition %d cannot be opened (%s); rebuilding it from the changelog",
                partition,
                exc,
            )
            shutil.rmtree(path)
            discarded.append(partition)
    return discarded


def read_persisted_offsets(paths: Mapping[int, Path], offset_key: bytes) -> dict[int, int]:
    """The persisted changelog offset of each partition database that exists (read-only)."""
    import rocksdict

    found: dict[int, int] = {}
    for partition, path in paths.items():
        if not path.exists():
            continue
        db = rocksdict.Rdict(
            str(path), rocksdict.Options(raw_mode=True), access_type=rocksdict.AccessType.read_only()
        )
        try:
            raw = db.get(offset_key)
        finally:
            db.close()
        if raw is not None:
            found[partition] = int(raw)
    return found


async def changelog_end_offsets(
    kafka: KafkaSettings, changelog: str, partitions: list[int]
) -> dict[int, int]:
    """End offsets of the changelog's partitions ({} when the topic does not exist).

    Corrected from Fetch high watermarks like Faust's recovery (``streams.end_offsets``): Tansu's
    ListOffsets answers too low for multi-record batches.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap_servers, request_timeout_ms=kafka.request_timeout_ms
    )
    await admin.start()
    try:
        exists = changelog in set(await admin.list_topics())  # never ask about a missing topic
    finally:
        await admin.close()
    if not exists or not partitions:
        return {}
    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    await consumer.start()
    try:
        tps = [aiokafka.TopicPartition(changelog, p) for p in partitions]
        listed = {
            TP(tp.topic, tp.partition): int(end) for tp, end in (await consumer.end_offsets(tps)).items()
        }
        fetched = await fetch_highwaters(consumer, listed, END_OFFSET_FETCH_TIMEOUT_S)
    finally:
        await consumer.stop()
    return {tp.partition: end for tp, end in corrected_end_offsets(listed, fetched).items()}


async def rebuild_stale_state(
    kafka: KafkaSettings, changelog: str, paths: Mapping[int, Path], offset_key: bytes
) -> list[int]:
    """Removes the partition databases that cannot be opened or do not match the changelog;
    returns their partitions."""
    unopenable = discard_unopenable(paths)
    persisted = read_persisted_offsets(paths, offset_key)
    if not persisted:
        return unopenable
    ends = await changelog_end_offsets(kafka, changelog, sorted(persisted))
    stale = stale_partitions(persisted, ends)
    for partition in stale:
        log.warning(
            "local state of partition %d remembers changelog offset %d, the changelog %r ends at %d: "
            "another log (fresh broker, recreated topic); rebuilding it from the changelog",
            partition,
            persisted[partition],
            changelog,
            ends.get(partition, 0),
        )
        shutil.rmtree(paths[partition])
    return sorted(unopenable + stale)
