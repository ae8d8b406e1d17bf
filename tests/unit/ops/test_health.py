from __future__ import annotations

import asyncio
import time

from core.ops.health import NotReady, check_readiness


async def _ok() -> None:
    return None


async def _refused() -> None:
    raise ConnectionRefusedError("connection refused")


async def _not_ready() -> None:
    raise NotReady("the control-plane snapshot is not loaded yet")


async def _hangs() -> None:
    await asyncio.sleep(60)


async def test_every_check_passing_is_ready() -> None:
    readiness = await check_readiness({"kafka": _ok, "clickhouse": _ok}, timeout_s=1)
    assert readiness.ready
    assert readiness.body() == {"status": "ok", "checks": {"kafka": "ok", "clickhouse": "ok"}}


async def test_a_failing_check_names_its_reason() -> None:
    readiness = await check_readiness({"kafka": _ok, "clickhouse": _refused, "control_plane": _not_ready}, 1)
    assert not readiness.ready
    assert readiness.body() == {
        "status": "unavailable",
        "checks": {
            "kafka": "ok",
            "clickhouse": "connection refused",
            "control_plane": "the control-plane snapshot is not loaded yet",
        },
    }


async def test_checks_run_at_once_and_a_hanging_one_is_cut_at_the_timeout() -> None:
    started = time.monotonic()
    readiness = await check_readiness({"a": _hangs, "b": _hangs, "c": _ok}, timeout_s=0.2)
    elapsed = time.monotonic() - started
    assert readiness.checks == {"a": "timeout after 0.2 s", "b": "timeout after 0.2 s", "c": "ok"}
    assert elapsed < 1.0  # concurrent: not 0.4 s, and bounded


async def test_an_exception_without_message_is_named_by_its_type() -> None:
    async def bare() -> None:
        raise OSError()

    readiness = await check_readiness({"x": bare}, 1)
    assert readiness.checks == {"x": "OSError"}
