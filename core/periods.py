"""UTC period bucketing for the four granularities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Granularity(StrEnum):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; an offset-less value is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def period_start(moment: datetime, granularity: Granularity) -> datetime:
    """The start of the UTC bucket holding ``moment``: hour, day, ISO week (Monday) or month."""
    utc = as_utc(moment)
    if granularity is Granularity.HOURLY:
        return utc.replace(minute=0, second=0, microsecond=0)
    day = utc.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity is Granularity.DAILY:
        return day
    if granularity is Granularity.WEEKLY:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_utc(moment: datetime, milliseconds: bool = False) -> str:
    """The one timestamp format of every answer: RFC 3339 in UTC with a ``Z`` suffix, microseconds
    only when present; with ``milliseconds``, always exactly three fraction digits."""
    utc = as_utc(moment)
    if milliseconds:
        return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if utc.microsecond:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_micros(moment: datetime) -> int:
    """Microseconds since 1970-01-01 UTC (exact: no float on the way)."""
    delta = as_utc(moment) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
