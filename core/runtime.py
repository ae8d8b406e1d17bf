"""Process-wide tuning of the long-running services (the streams worker, the query service)."""

from __future__ import annotations

import gc


def _import_lazy_modules() -> None:
    """Imports now what the first ClickHouse call would import (clickhouse-connect resolves pandas
    and numpy lazily, about a second of CPU): before the collector tuning freezes what exists."""
    from clickhouse_connect.driver import options

    _ = (options.pd, options.np)


def _tune_garbage_collector() -> None:
    """Fewer, cheaper cyclic collections, once the process has imported what it needs.

    Both services allocate many short-lived objects per unit of work (the worker: several per
    record until its batch is acked; the query service: a dict per window of an answer, 12,000 for
    a year by month of 1,000 customers). With the default threshold (700 allocations) collections
    run hundreds of times per batch or answer and promote those objects into the old generations,
    whose full collections walk everything the process holds (measured: the worker spent ~20 % of
    its time there; a 12,000-window answer took 21 ms at the median and up to 133 ms when a full
    collection hit it, 13 / 26 ms after this). The objects built so far (modules, the app) are
    moved out of the collector's view, and a young collection waits for 50,000 allocations.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


_tuned = False


def tune_process() -> None:
    """Imports the lazy modules, then tunes the collector (freezing what exists: call it last at
    start-up), once per process (an app started again in the same process, as tests do, changes
    nothing)."""
    global _tuned
    if not _tuned:
        _tuned = True
        _import_lazy_modules()
        _tune_garbage_collector()
