"""Readiness: named dependency checks run concurrently, each bounded by a timeout. Pure asyncio.

A check is an async callable that returns when the dependency answers and raises otherwise. The
result is what ``GET /health/ready`` answers: ``"ok"`` per passing check, a short reason per
failing one ("timeout after 2 s", "connection refused", ...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

Check = Callable[[], Awaitable[None]]
OK = "ok"
MAX_REASON_CHARS = 200


class NotReady(Exception):
    """Raised by a check whose dependency answered but is not usable (the message says why)."""


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    checks: dict[str, str]

    def body(self) -> dict[str, object]:
        return {"status": "ok" if self.ready else "unavailable", "checks": self.checks}


def _seconds(value: float) -> str:
    return f"{value:g}"


async def _run_one(check: Check, timeout_s: float) -> str:
    try:
        await asyncio.wait_for(check(), timeout=timeout_s)
    except TimeoutError:
        return f"timeout after {_seconds(timeout_s)} s"
    except Exception as exc:  # any failure is a reason, never a crash of the probe
        reason = str(exc) or type(exc).__name__
        return reason[:MAX_REASON_CHARS]
    return OK


async def check_readiness(checks: Mapping[str, Check], timeout_s: float) -> Readiness:
    """Runs every check at once; the whole call takes at most about ``timeout_s``."""
    names = list(checks)
    results = await asyncio.gather(*(_run_one(checks[name], timeout_s) for name in names))
    outcome = dict(zip(names, results, strict=True))
    return Readiness(all(result == OK for result in results), outcome)
