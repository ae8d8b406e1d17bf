"""The agent loop: ack after the write, crash-only when anything unexpected escapes."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from streams.agents import run_batches
from streams.batch import BatchPlan


class FakeApp:
    def __init__(self) -> None:
        self.crashed: list[BaseException] = []

    async def crash(self, reason: BaseException) -> None:
        self.crashed.append(reason)


class FakeIntake:
    def __init__(self, batches: list[Any]) -> None:
        self.batches = batches
        self.acked: list[Any] = []

    async def next_batch(self) -> list[Any]:
        item = self.batches.pop(0)
        if isinstance(item, BaseException):
            raise item
        return list(item)

    def ack(self, events: Sequence[Any]) -> None:
        self.acked.extend(events)


def event(partition: int, offset: int) -> Any:
    return SimpleNamespace(message=SimpleNamespace(partition=partition, offset=offset))


class Writer:
    def __init__(self, fail_on: int | None = None) -> None:
        self.fail_on = fail_on
        self.written: list[Any] = []

    async def write(self, events: list[Any]) -> BatchPlan:
        if events[0].message.offset == self.fail_on:
            raise RuntimeError("a bug")
        self.written.extend(events)
        return BatchPlan()


async def test_batches_are_acked_after_they_are_written_until_the_stream_ends() -> None:
    first, second = [event(0, 0), event(1, 0)], [event(0, 1)]
    intake, writer, app = FakeIntake([first, second, StopAsyncIteration()]), Writer(), FakeApp()
    await run_batches(app, intake, writer)
    assert intake.acked == writer.written == first + second and app.crashed == []


async def test_a_failing_batch_stops_the_worker_and_is_never_acked() -> None:
    good, bad = [event(0, 0)], [event(0, 1), event(1, 1)]
    intake, app = FakeIntake([good, bad, [event(0, 2)]]), FakeApp()
    with pytest.raises(RuntimeError, match="a bug"):
        await run_batches(app, intake, Writer(fail_on=1))
    assert intake.acked == good  # the failed batch stays unacked: consumed again after the restart
    assert [str(reason) for reason in app.crashed] == ["a bug"]


async def test_an_error_thrown_into_the_channel_stops_the_worker_too() -> None:
    intake, app = FakeIntake([[event(0, 0)], ValueError("thrown into the channel")]), FakeApp()
    with pytest.raises(ValueError):
        await run_batches(app, intake, Writer())
    assert len(intake.acked) == 1 and len(app.crashed) == 1
