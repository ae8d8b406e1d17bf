"""A failed changelog or dead-letter produce is retried, not a crash of the agent."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from streams.agents import send_dead_letters
from streams.batch import DeadLetter
from streams.faust_internals import App, rocksdb_store
from streams.settings import StreamsSettings
from streams.state import TableState
from streams.versioning import KeyState

FAST = StreamsSettings(retry_initial_s=0.01, retry_max_s=0.01)


class FlakyChangelog(TableState):
    attempts = 0

    async def _send_changelog(self, partition: int, items: Any) -> Any:
        self.attempts += 1
        delivery = asyncio.get_running_loop().create_future()
        if self.attempts == 1:
            delivery.set_exception(ConnectionError("broker went away"))
        else:
            delivery.set_result(SimpleNamespace(offset=40))
        return partition, [(delivery, len(items))]


async def test_a_failed_changelog_delivery_is_sent_again(tmp_path: Path) -> None:
    app = App("retry-test", broker="kafka://127.0.0.1:1", store="rocksdb://", datadir=str(tmp_path))
    table = app.Table("replace-state", key_type=bytes, value_type=bytes, partitions=2)
    state = FlakyChangelog(app, table, retry_initial_s=0.01, retry_max_s=0.01)
    event: Any = None
    await asyncio.wait_for(state.store([(b"k", KeyState(5, 1, 9, 5), event)]), 5)
    assert state.attempts == 2
    store = rocksdb_store(table)
    assert store is not None
    assert store.persisted_offset(TP(str(table.changelog_topic.get_topic_name()), 1)) == 40
    assert state.load([SimpleNamespace(message=SimpleNamespace(key=b"k", partition=1))]) == {  # type: ignore[list-item]
        b"k": KeyState(5, 1, 9, 5)
    }


class FlakyTopic:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, dict[str, bytes]]] = []
        self.failures = 2

    async def send(self, *, key: bytes, value: bytes, headers: dict[str, bytes]) -> asyncio.Future[None]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("no leader")
        self.sent.append((value, headers))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_a_failed_dead_letter_produce_is_retried() -> None:
    message = SimpleNamespace(topic="usage", partition=2, offset=7, key=b"k", value=b"{bad")
    topic = FlakyTopic()
    events: Any = [SimpleNamespace(message=message)]
    await asyncio.wait_for(send_dead_letters([DeadLetter(0, "record is not JSON")], events, topic, FAST), 5)  # type: ignore[arg-type]
    assert topic.sent == [(b"{bad", {"quivly-error": b"record is not JSON", "quivly-source": b"usage/2/7"})]
