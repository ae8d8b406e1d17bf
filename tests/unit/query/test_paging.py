from __future__ import annotations

from datetime import UTC, date, datetime

from query.paging import PageWindow, month_start_us, next_month, page_window

JAN, FEB, MAR, DEC = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1), date(2025, 12, 1)


def us(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * 1_000_000


def test_month_bounds() -> None:
    assert month_start_us(FEB) == us(2026, 2, 1)
    assert next_month(DEC) == date(2026, 1, 1) and next_month(JAN) == FEB


def test_page_inside_one_month() -> None:
    counts = [(JAN, 10), (FEB, 10), (MAR, 10)]
    assert page_window(counts, 12, 5) == PageWindow(us(2026, 2, 1), us(2026, 3, 1) - 1, 2)
    assert page_window(counts, 0, 10) == PageWindow(us(2026, 1, 1), us(2026, 2, 1) - 1, 0)


def test_page_across_months_and_at_the_end() -> None:
    counts = [(DEC, 3), (JAN, 1), (MAR, 10)]
    assert page_window(counts, 2, 5) == PageWindow(us(2025, 12, 1), us(2026, 4, 1) - 1, 2)
    assert page_window(counts, 13, 50) == PageWindow(us(2026, 3, 1), us(2026, 4, 1) - 1, 9)


def test_past_the_end_or_no_match() -> None:
    assert page_window([(JAN, 3)], 3, 10) is None
    assert page_window([], 0, 10) is None
