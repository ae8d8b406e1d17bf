"""Replace versions: pure logic, no Faust, Kafka or ClickHouse imports.

The worker's table remembers per replace key a ``KeyState``: the version of the last applied
write, the (partition, offset) it came from and its ``ingested_at_us``. For each record:

* **replay** if it comes from the same partition, at or below the last applied offset, and was
  not ingested later than the last applied write: skipped, nothing is written;
* otherwise ``version = max(previous_version + 1, ingested_at_us)`` (``ingested_at_us`` when the
  key is new).

Why the three properties of ARCHITECTURE.md hold:

1. *Log order.* One key always lands in one partition. Records of a key are applied in offset
   order and each gets ``previous + 1`` at least: the version strictly grows along the log.
2. *A replay changes nothing.* The table is written only after the ClickHouse insert of the
   batch succeeded (see ``streams.agents``). After a crash, a re-consumed record either finds the
   table already holding its write (offset at or below, same ingestion time or earlier:
   skipped) or finds the state from before it, in which case the same inputs give the same
   version and the same row again, which ReplacingMergeTree collapses onto the stored one.
3. *A write after a log reset still wins.* A new cluster or recreated topic restarts offsets
   at 0. With empty worker state the version is ``ingested_at_us``, later than the ingestion of
   every earlier write and thus above every version already in ClickHouse (a version exceeds its
   own ingestion time only by the number of writes to that key within the same microseconds).
   With *stale* worker state (the local store survived, the log did not), offsets are not
   comparable any more: that is why a replay must also not be ingested later than the last
   applied write. A genuinely new write was accepted after the reset, so after every write
   applied before it: it is not taken for a replay and gets ``max(previous + 1, ingested)``.

Clock assumption: ingress replicas' clocks agree to well under the time between two writes of
the same key. If a replayed older record carries a later ``ingested_at_us`` than a newer one
(skew), it is re-applied, but the newer record follows it in the same replay (it sits after it
in the partition) and wins again: the final state is still last-write-wins.

Partition count: a key that arrives on another partition than the one remembered (the topic
got more partitions) is never treated as a replay by offset; the worker refuses to start when
the topic's partition count differs from the configuration (``streams.guards``).
"""

from __future__ import annotations

from typing import NamedTuple

import orjson


class KeyState(NamedTuple):
    """What the table keeps per replace key (immutable; a tuple: cheap to build per record)."""

    version: int
    partition: int
    offset: int
    ingested_at_us: int

    def to_bytes(self) -> bytes:
        return orjson.dumps([self.version, self.partition, self.offset, self.ingested_at_us])

    @classmethod
    def from_bytes(cls, raw: bytes) -> KeyState:
        version, partition, offset, ingested_at_us = orjson.loads(raw)
        return cls(int(version), int(partition), int(offset), int(ingested_at_us))


def is_replay(previous: KeyState, partition: int, offset: int, ingested_at_us: int) -> bool:
    return (
        partition == previous.partition
        and offset <= previous.offset
        and ingested_at_us <= previous.ingested_at_us
    )


def next_state(
    previous: KeyState | None, partition: int, offset: int, ingested_at_us: int
) -> KeyState | None:
    """The state after applying a record, or ``None`` when the record is a replay to skip."""
    if previous is None:
        return KeyState(max(ingested_at_us, 1), partition, offset, ingested_at_us)
    if is_replay(previous, partition, offset, ingested_at_us):
        return None
    version = max(previous.version + 1, ingested_at_us)
    return KeyState(version, partition, offset, ingested_at_us)
