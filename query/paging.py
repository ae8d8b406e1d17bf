"""Deep pages without sorting every match (pure).

A search over many matches first counts its matches per calendar month of ``created_at`` (cheap:
no sort). The page ``[offset, offset + limit)`` of the ``created_at`` order then lies inside a few
consecutive months, so only the matches of those months need ordering, and the page's offset inside
them is the offset minus the matches of the earlier months.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

MICROS = 1_000_000


@dataclass(frozen=True)
class PageWindow:
    from_us: int  # inclusive, microseconds since the epoch (UTC): the first month's start
    to_us: int  # inclusive: the last microsecond of the last month
    offset: int  # the page's offset among the matches of these months


def month_start_us(month: date) -> int:
    return calendar.timegm((month.year, month.month, 1, 0, 0, 0)) * MICROS


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def page_window(month_counts: Sequence[tuple[date, int]], offset: int, limit: int) -> PageWindow | None:
    """The months holding matches ``offset`` to ``offset + limit - 1`` (``month_counts`` ascending,
    months with no match left out); None when the offset is past the last match."""
    before = 0  # matches in the months before the current one
    first: tuple[date, int] | None = None
    for month, count in month_counts:
        if first is None and before + count > offset:
            first = (month, before)
        before += count
        if first is not None and before >= offset + limit:
            return PageWindow(
                month_start_us(first[0]), month_start_us(next_month(month)) - 1, offset - first[1]
            )
    if first is None:
        return None
    last = month_counts[-1][0]
    return PageWindow(month_start_us(first[0]), month_start_us(next_month(last)) - 1, offset - first[1])
