"""Deep pages without sorting every match (pure).

A search over many matches first counts its matches per UTC day of ``created_at`` (cheap: no
sort, and cached per partition: ``query.count_cache``). The page ``[offset, offset + limit)`` of
the ``created_at`` order then lies inside a few consecutive days, so only the matches of those days
need ordering, and the page's offset inside them is the offset minus the matches of earlier days.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

MICROS = 1_000_000


@dataclass(frozen=True)
class PageWindow:
    from_us: int  # inclusive, microseconds since the epoch (UTC): the first day's start
    to_us: int  # inclusive: the last microsecond of the last day
    offset: int  # the page's offset among the matches of these days


def day_start_us(day: date) -> int:
    return calendar.timegm((day.year, day.month, day.day, 0, 0, 0)) * MICROS


def page_window(day_counts: Sequence[tuple[date, int]], offset: int, limit: int) -> PageWindow | None:
    """The days holding matches ``offset`` to ``offset + limit - 1`` (``day_counts`` ascending,
    days with no match left out); None when the offset is past the last match."""
    before = 0  # matches in the days before the current one
    first: tuple[date, int] | None = None
    for day, count in day_counts:
        if first is None and before + count > offset:
            first = (day, before)
        before += count
        if first is not None and before >= offset + limit:
            return _window(first[0], day, offset - first[1])
    if first is None:
        return None
    return _window(first[0], day_counts[-1][0], offset - first[1])


def _window(first_day: date, last_day: date, offset: int) -> PageWindow:
    return PageWindow(day_start_us(first_day), day_start_us(last_day + timedelta(days=1)) - 1, offset)
