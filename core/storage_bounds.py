"""What the usage tables can store and the reads can answer: the bounds an accepted event must fit.

Every column an event lands in, with its ClickHouse type (``infra/migrations/0002_usage.sql``;
the read-side copies of 0030 and 0051 and the view of 0040 repeat the same types):

* ``period_start`` — ``DateTime('UTC')``: whole seconds, 1970-01-01 00:00:00 to 2106-02-07 06:28:15.
  It is the bucket of the event's timestamp: the hour, the day, the ISO week's Monday or the
  month's 1st, so a week that began in 1969 cannot be stored.
* ``created_at``, ``ingested_at`` — ``DateTime64(6, 'UTC')``: 1900-01-01 to 2299-12-31 23:59:59.999999.
* ``value`` — ``Float64``: every finite double (NaN and infinities are refused).
* ``org_id``, ``customer_id``, ``external_customer_id``, ``metric_key``, ``properties`` —
  ``String``: any bytes.
* ``version`` (``UInt64``), ``source_partition`` (``UInt32``), ``source_offset`` (``UInt64``) and
  ``event_id`` (``UUID``) are set by the services, never by a client.

An event's timestamp is accepted when it fits ``period_start`` itself (so its period does too, a
period never starting after its timestamp) and its period does not start before 1970, so an
accepted timestamp is also a storable ``created_at``. The query service's day arithmetic
(``toDate``, ``toDateTime``) then never leaves its types either.

``properties`` are stored as compact JSON text and read back with orjson: integers must fit its
64-bit range (larger ones would come back as floats), and the nesting depth is bounded well below
what orjson can encode once the properties sit inside a search response (254 levels in all).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core.periods import Granularity, period_start

# DateTime('UTC'): seconds since the epoch as UInt32.
DATETIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
DATETIME_MAX = datetime(2106, 2, 7, 6, 28, 15, tzinfo=UTC)
# DateTime64(6, 'UTC').
DATETIME64_MIN = datetime(1900, 1, 1, tzinfo=UTC)
DATETIME64_MAX = datetime(2299, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)

# The accepted event timestamps, per granularity (inclusive).
TIMESTAMP_MAX = DATETIME_MAX
_FIRST_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)  # 1970-01-01 was a Thursday
TIMESTAMP_MIN: dict[str, datetime] = {
    Granularity.HOURLY.value: DATETIME_MIN,
    Granularity.DAILY.value: DATETIME_MIN,
    Granularity.WEEKLY.value: _FIRST_MONDAY,
    Granularity.MONTHLY.value: DATETIME_MIN,
}

# Integers in properties: what orjson reads and writes as integers.
PROPERTY_INT_MIN = -(2**63)
PROPERTY_INT_MAX = 2**64 - 1
# Nesting levels of properties (the properties object is level 1).
PROPERTIES_MAX_DEPTH = 64

MICROSECOND = timedelta(microseconds=1)


def storable_timestamp(moment: datetime, granularity: str) -> bool:
    """Whether an event at ``moment`` (aware) with this granularity fits every column it lands in."""
    return TIMESTAMP_MIN[granularity] <= moment <= TIMESTAMP_MAX


def storable_period(moment: datetime, granularity: str) -> bool:
    """The check ``storable_timestamp`` stands for, spelled out column by column (used by tests)."""
    start = period_start(moment, Granularity(granularity))
    return DATETIME_MIN <= start <= DATETIME_MAX and DATETIME64_MIN <= moment <= DATETIME_MAX


def properties_depth(node: Any) -> int:
    """Nesting levels of a parsed JSON value (a scalar is 0, ``{}`` is 1); no recursion, so any
    depth a parser produced is measured."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(node, 0)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        deepest = max(deepest, depth + 1)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def timestamp_range_text(granularity: str) -> str:
    earliest = TIMESTAMP_MIN[granularity].strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{earliest} to {TIMESTAMP_MAX.strftime('%Y-%m-%dT%H:%M:%SZ')}"


# The integers JSON encoders (orjson) write as integers: int64 and uint64.
_JSON_INT_MIN = -(2**63)
_JSON_INT_MAX = 2**64 - 1


def json_number(value: float) -> int | float:
    """An integral float prints as an integer (300.0 -> 300) when JSON encoders take it as one;
    anything else (1e20, 0.5) stays a float, which every finite double is as JSON."""
    if value.is_integer() and _JSON_INT_MIN <= value <= _JSON_INT_MAX:  # False for inf and nan
        return int(value)
    return value
