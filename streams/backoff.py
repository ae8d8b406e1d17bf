"""Retry delays for the sink: exponential and capped. Pure logic."""

from __future__ import annotations

from collections.abc import Iterator


def backoff_delays(initial_s: float, maximum_s: float, factor: float = 2.0) -> Iterator[float]:
    """``initial, initial*factor, ...`` capped at ``maximum``, forever."""
    delay = initial_s
    while True:
        yield min(delay, maximum_s)
        delay = min(delay * factor, maximum_s)
