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


DAY_US = 86_400 * MICROS
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
LONGEST_SPILL = timedelta(days=6)  # a weekly value's created_at lies up to 6 days after its Monday


def day_of(moment_us: int) -> date:
    """The UTC day of a moment (microseconds since the epoch)."""
    return date.fromordinal(_EPOCH_ORDINAL + moment_us // DAY_US)


@dataclass(frozen=True)
class DaySplit:
    """A created_at range as whole UTC days (counted from profiles) and partial days (counted
    exactly): ``first_day`` to ``last_day`` inclusive (None: unbounded), plus ``partial`` windows
    ``(day, from_us, to_us)`` outside them."""

    first_day: date | None
    last_day: date | None
    partial: tuple[tuple[date, int, int], ...]


def split_days(from_us: int | None, to_us: int | None) -> DaySplit:
    from_day = None if from_us is None else day_of(from_us)
    to_day = None if to_us is None else day_of(to_us)
    from_partial = from_us is not None and from_day is not None and from_us != day_start_us(from_day)
    to_partial = to_us is not None and to_day is not None and to_us != day_start_us(to_day) + DAY_US - 1
    if from_day is not None and from_day == to_day and (from_partial or to_partial):
        assert from_us is not None and to_us is not None
        return DaySplit(_plus_days(from_day, 1), from_day, ((from_day, from_us, to_us),))
    partial: list[tuple[date, int, int]] = []
    first_day, last_day = from_day, to_day
    if from_partial and from_day is not None and from_us is not None:
        partial.append((from_day, from_us, day_start_us(from_day) + DAY_US - 1))
        first_day = _plus_days(from_day, 1)
    if to_partial and to_day is not None and to_us is not None:
        partial.append((to_day, day_start_us(to_day), to_us))
        last_day = _plus_days(to_day, -1)
    return DaySplit(first_day, last_day, tuple(partial))


def partitions_in_range(partitions: Sequence[str], from_us: int | None, to_us: int | None) -> list[str]:
    """The monthly partitions (IDs ``YYYYMM``: ``toYYYYMM(period_start)``) that can hold a value
    with created_at in the range: a value's period starts in the month of its created_at (hours,
    days, months) or up to 6 days earlier (a week). An ID of another form is always kept."""
    lowest = 0 if from_us is None else _month_number(_plus_days(day_of(from_us), -LONGEST_SPILL.days))
    highest = 999_999 if to_us is None else _month_number(day_of(to_us))
    return [p for p in partitions if not (len(p) == 6 and p.isdigit()) or lowest <= int(p) <= highest]


def _plus_days(day: date, days: int) -> date:
    """``day`` moved by ``days``, within the dates Python has (requests may name year 1 or 9999)."""
    return date.fromordinal(min(max(day.toordinal() + days, 1), date.max.toordinal()))


def _month_number(day: date) -> int:
    return day.year * 100 + day.month
