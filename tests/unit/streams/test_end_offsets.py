import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from faust.types import TP

from streams.end_offsets import corrected_end_offsets
from streams.faust_internals import _finish

A, B, C = TP("changelog", 0), TP("changelog", 1), TP("changelog", 2)


def test_end_offsets_are_raised_to_the_fetch_high_watermark() -> None:
    # Tansu: ListOffsets = base offset of the last batch + 1; the Fetch high watermark is right.
    assert corrected_end_offsets({A: 7, B: 1, C: 0}, {A: 13, B: 5}) == {A: 13, B: 5, C: 0}


def test_end_offsets_never_go_below_the_listed_ones() -> None:
    assert corrected_end_offsets({A: 10, B: 4}, {A: 9}) == {A: 10, B: 4}


async def _suspends_then_returns(future: asyncio.Future[int]) -> int:
    await asyncio.sleep(0)
    return await future + 1


def _first_step(coro: Coroutine[Any, Any, Any]) -> Any:
    return coro.send(None)


async def test_finish_drives_a_suspended_coroutine_to_its_result() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    coro = _suspends_then_returns(future)
    task = asyncio.ensure_future(_finish(coro, _first_step(coro)))
    await asyncio.sleep(0.01)
    assert not task.done()
    future.set_result(41)
    assert await task == 42


async def test_finish_passes_exceptions_and_cancellation_to_the_coroutine() -> None:
    loop = asyncio.get_running_loop()
    failing: asyncio.Future[int] = loop.create_future()
    coro = _suspends_then_returns(failing)
    task = asyncio.ensure_future(_finish(coro, _first_step(coro)))
    await asyncio.sleep(0.01)
    failing.set_exception(ValueError("boom"))
    with pytest.raises(ValueError, match="boom"):
        await task

    waiting: asyncio.Future[int] = loop.create_future()
    coro = _suspends_then_returns(waiting)
    task = asyncio.ensure_future(_finish(coro, _first_step(coro)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert waiting.cancelled()
