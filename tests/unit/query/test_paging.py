from __future__ import annotations

from datetime import UTC, date, datetime

from query.paging import PageWindow, day_start_us, page_window

D1, D2, D3, DEC31 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3), date(2025, 12, 31)


def us(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * 1_000_000


def test_day_bounds() -> None:
    assert day_start_us(D2) == us(2026, 1, 2)
    assert day_start_us(DEC31) == us(2025, 12, 31)


def test_page_inside_one_day() -> None:
    counts = [(D1, 10), (D2, 10), (D3, 10)]
    assert page_window(counts, 12, 5) == PageWindow(us(2026, 1, 2), us(2026, 1, 3) - 1, 2)
    assert page_window(counts, 0, 10) == PageWindow(us(2026, 1, 1), us(2026, 1, 2) - 1, 0)


def test_page_across_days_and_years_and_at_the_end() -> None:
    counts = [(DEC31, 3), (D1, 1), (D3, 10)]
    assert page_window(counts, 2, 5) == PageWindow(us(2025, 12, 31), us(2026, 1, 4) - 1, 2)
    assert page_window(counts, 13, 50) == PageWindow(us(2026, 1, 3), us(2026, 1, 4) - 1, 9)


def test_past_the_end_or_no_match() -> None:
    assert page_window([(D1, 3)], 3, 10) is None
    assert page_window([], 0, 10) is None
