"""Which monthly summaries the refresher drops (``streams.summary.replaced``), without ClickHouse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.summary import replaced

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KEPT_SINCE = NOW - timedelta(seconds=60)


def test_the_current_summary_and_one_being_written_at_the_current_version_stay() -> None:
    versions = {202601: 9}
    assert not replaced(202601, 9, versions, {202601: {9: NOW}}, KEPT_SINCE)
    assert not replaced(202601, 9, versions, {}, KEPT_SINCE)  # not complete yet: a refresh is writing it


def test_a_summary_of_a_month_that_is_gone_goes() -> None:
    assert replaced(202601, 9, {}, {202601: {9: NOW}}, KEPT_SINCE)


def test_an_incomplete_summary_below_the_current_version_goes() -> None:
    # The month was written while it was summarized: that summary is never used.
    assert replaced(202601, 5, {202601: 9}, {}, KEPT_SINCE)


def test_a_replaced_summary_stays_a_while_for_queries_that_chose_it() -> None:
    versions = {202601: 9}
    recently = {202601: {5: NOW - timedelta(hours=1), 9: NOW - timedelta(seconds=10)}}
    assert not replaced(202601, 5, versions, recently, KEPT_SINCE)
    long_ago = {202601: {5: NOW - timedelta(hours=1), 9: NOW - timedelta(seconds=61)}}
    assert replaced(202601, 5, versions, long_ago, KEPT_SINCE)


def test_a_complete_summary_below_the_current_version_without_a_newer_complete_one_stays() -> None:
    # The month changed since; until its next summary is complete this one costs nothing to keep.
    assert not replaced(202601, 5, {202601: 9}, {202601: {5: NOW - timedelta(hours=1)}}, KEPT_SINCE)
