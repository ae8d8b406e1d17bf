"""Usage rolled up over windows: the request model, its SQL and the response (pure).

One implementation for every reader: the query service (``POST /v1/usage/query``) and the panel's
Usage page both validate with ``parse_usage_body`` / ``validate_usage_query`` and answer with
``run_usage_query``, passing their own ClickHouse client as ``run`` (reads only). Nothing here
imports FastAPI or clickhouse-connect.

How a query is answered (``rollup_page``), all in ClickHouse:

1. the current stored values (``FINAL`` over a copy of ``usage_events`` ordered for the selection,
   ``table_for``: a replaced value counts once, with its new value, before merges too; every
   filter inside is on a sorting-key column, which all versions of a value share) of the
   organization, granularity, ``[from, to)``, metrics and customers; for month, quarter, year and
   ``all`` windows over many customers, the whole UTC months whose monthly summary is current
   (``core.usage_summary``, checked for every query by ``current_summaries``) come from
   ``usage_monthly`` instead (sum, min, max, count and last per customer and month, rolled up the
   same way), or ``usage_monthly_by_properties`` (per properties text too) when grouping by
   properties;
2. per metric + customer (+ grouped properties) + window, the metric's rollup: the override, or the
   one configured in the control plane, read from the view ``metric_rollups_current``
   (``configured_rollups``, for every query, so a rollup changed in the admin API applies to the
   next query);
3. without ``customer`` in ``group_by``, the sum over customers of those per-customer values
   (for ``sum``, which is the sum of all the values, grouped without customers at all);
4. one row per series (its windows in arrays), numbered in their order: the page's series are
   returned, with the numbers of series and of the page's windows.

The rollups and the current summaries (the page's context, one statement) are read before the
page; with ``RecentContexts`` (the query service), they are read alongside a page made with what
the latest contexts said, which is kept only if its context still holds (``run_usage_query``).
"""

from __future__ import annotations

import math
import threading
import time
import zoneinfo
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, TypedDict

import orjson

from core.errors import MAX_OFFSET, InvalidFields, check_integer, json_object_body
from core.names import (
    CUSTOMER_EXTERNAL_IDS,
    METRIC_ROLLUPS_CURRENT,
    USAGE_EVENTS_BY_CUSTOMER,
    USAGE_EVENTS_BY_METRIC,
    USAGE_MONTHLY,
    USAGE_MONTHLY_BY_PROPERTIES,
    USAGE_MONTHLY_REFRESHES,
)
from core.periods import Granularity, as_utc, format_utc
from core.storage_bounds import json_number
from core.usage_summary import months_cover, partition_versions_sql, whole_months

# Up to this many selected customers are read customer by customer, more metric by metric.
MAX_CUSTOMERS_READ_BY_CUSTOMER = 50

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_METRIC_KEYS = 100
MAX_CUSTOMERS = 1000
MAX_METRIC_KEY_LENGTH = 128
MAX_ID_LENGTH = 255
MAX_GROUP_PROPERTIES = 3
MAX_PROPERTY_NAME_LENGTH = 1024
MAX_WINDOWS_PER_PAGE = 100_000
# The largest valid body (2,000 IDs of 255 characters, each escaped as \uXXXX) is about 3 MB.
MAX_BODY_BYTES = 8 * 1024 * 1024
UTC_NAMES = frozenset({"UTC", "Etc/UTC"})
CUSTOMER = "customer"
PROPERTY_PREFIX = "property:"
_MAX_DATETIME = 2**32 - 1  # ClickHouse DateTime: seconds since the epoch as UInt32
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class WindowSize(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    ALL = "all"


class Rollup(StrEnum):
    SUM = "sum"
    MAX = "max"
    MIN = "min"
    AVG = "avg"
    LAST = "last"


# The finest window each granularity's values can be rolled up into (weekly values go into
# month windows by their Monday, so a week is the finest window of weekly values).
_FINEST_WINDOW = {
    Granularity.HOURLY: WindowSize.HOUR,
    Granularity.DAILY: WindowSize.DAY,
    Granularity.WEEKLY: WindowSize.WEEK,
    Granularity.MONTHLY: WindowSize.MONTH,
}
_WINDOW_ORDER = list(WindowSize)
# Windows made of whole months (hour, day and week windows need the daily values).
_MONTHLY_WINDOWS = frozenset({WindowSize.MONTH, WindowSize.QUARTER, WindowSize.YEAR, WindowSize.ALL})


class UsageValidationError(InvalidFields):
    """A usage query body that fails validation."""


@dataclass(frozen=True)
class UsageQuery:
    start: datetime  # ``from``: inclusive, aware UTC
    end: datetime  # ``to``: exclusive, aware UTC
    granularity: Granularity = Granularity.DAILY
    window_size: WindowSize = WindowSize.MONTH
    timezone: str = "UTC"
    metric_keys: tuple[str, ...] | None = None
    customer_ids: tuple[str, ...] | None = None
    external_customer_ids: tuple[str, ...] | None = None
    by_customer: bool = True
    group_properties: tuple[str, ...] = ()
    rollup: Rollup | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @property
    def group_by(self) -> list[str]:
        items = [CUSTOMER] if self.by_customer else []
        return items + [PROPERTY_PREFIX + name for name in self.group_properties]


# --- validation ---------------------------------------------------------------------------------------


def parse_usage_body(raw: bytes) -> UsageQuery:
    """The query in ``raw`` (JSON object); raises ``UsageValidationError``."""
    return validate_usage_query(json_object_body(raw, UsageValidationError))


def validate_usage_query(body: dict[str, Any]) -> UsageQuery:
    """Every field checked, failures collected in field order (``null`` means "not given"; unknown
    fields are ignored)."""
    errors: list[dict[str, str]] = []
    values: dict[str, Any] = {}
    for name, check in _CHECKS:
        raw = body.get(name)
        if raw is None:
            if name in ("from", "to"):
                errors.append({"path": name, "message": "is required"})
            continue
        try:
            values[name] = check(raw, name)
        except _FieldErrors as exc:
            errors.extend(exc.details)
        except ValueError as exc:
            errors.append({"path": name, "message": str(exc)})
    errors.extend(_cross_field_errors(values))
    if errors:
        raise UsageValidationError(sorted(errors, key=_field_position))
    group_by = values.get("group_by", (CUSTOMER,))
    return UsageQuery(
        start=values["from"],
        end=values["to"],
        granularity=values.get("granularity", Granularity.DAILY),
        window_size=values.get("window_size", WindowSize.MONTH),
        timezone=values.get("timezone", "UTC"),
        metric_keys=values.get("metric_keys"),
        customer_ids=values.get("customer_ids"),
        external_customer_ids=values.get("external_customer_ids"),
        by_customer=CUSTOMER in group_by,
        group_properties=tuple(item[len(PROPERTY_PREFIX) :] for item in group_by if item != CUSTOMER),
        rollup=values.get("rollup"),
        limit=values.get("limit", DEFAULT_LIMIT),
        offset=values.get("offset", 0),
    )


def _field_position(error: dict[str, str]) -> int:
    root = error["path"].split("[", 1)[0]
    return next((index for index, (name, _) in enumerate(_CHECKS) if name == root), len(_CHECKS))


def _cross_field_errors(values: dict[str, Any]) -> list[dict[str, str]]:
    errors = []
    start, end = values.get("from"), values.get("to")
    if start is not None and end is not None and end <= start:
        errors.append({"path": "to", "message": "must be after from"})
    granularity = values.get("granularity", Granularity.DAILY)
    window_size = values.get("window_size")
    if window_size is not None and not window_fits(granularity, window_size):
        finest = _FINEST_WINDOW[granularity].value
        errors.append(
            {
                "path": "window_size",
                "message": f"{window_size.value} windows are finer than {granularity.value} values "
                f"(use {finest} or coarser)",
            }
        )
    timezone = values.get("timezone")
    if timezone is not None and timezone not in UTC_NAMES and granularity is not Granularity.HOURLY:
        errors.append(
            {"path": "timezone", "message": "a time zone other than UTC needs hourly values (granularity)"}
        )
    return errors


def window_fits(granularity: Granularity, window_size: WindowSize) -> bool:
    """Never finer than the values: each value lies in exactly one window."""
    if window_size is WindowSize.ALL:
        return True
    return _WINDOW_ORDER.index(window_size) >= _WINDOW_ORDER.index(_FINEST_WINDOW[granularity])


class _FieldErrors(ValueError):
    """Several failures inside one field (items of a list), each with its own path."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__("invalid items")
        self.details = details


def _timestamp(value: Any, _: str) -> datetime:
    """RFC 3339 date-time (an offset-less value is UTC), as an aware UTC datetime."""
    message = "must be an RFC 3339 date-time, e.g. 2026-06-01T00:00:00Z"
    if not isinstance(value, str):
        raise ValueError(message)
    text = value.strip()
    if len(text) < 19 or text[10] not in "Tt ":
        raise ValueError(message)
    try:
        return as_utc(datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "zZ" else text))
    except (ValueError, OverflowError):  # OverflowError: beyond year 9999 in UTC
        raise ValueError(message) from None


def _choice(kind: type[StrEnum]) -> Callable[[Any, str], Any]:
    names = ", ".join(member.value for member in kind)

    def check(value: Any, _: str) -> StrEnum:
        try:
            return kind(value) if isinstance(value, str) else kind("\0")
        except ValueError:
            raise ValueError(f"must be one of: {names}") from None

    return check


def _timezone(value: Any, _: str) -> str:
    if not isinstance(value, str) or value not in _zone_names():
        raise ValueError("must be an IANA time zone name, e.g. Europe/Berlin")
    return value


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | UTC_NAMES


def _string_list(max_items: int, max_length: int) -> Callable[[Any, str], tuple[str, ...]]:
    def check(value: Any, path: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise ValueError("must be a list of strings")
        if not 1 <= len(value) <= max_items:
            raise ValueError(f"must hold 1 to {max_items} items")
        problems = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                problems.append({"path": f"{path}[{index}]", "message": "must be a string"})
            elif not 1 <= len(item) <= max_length:
                problems.append(
                    {"path": f"{path}[{index}]", "message": f"must be 1 to {max_length} characters"}
                )
        if problems:
            raise _FieldErrors(problems)
        return tuple(dict.fromkeys(value))  # duplicates are asked once

    return check


def _group_by(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError('must be a list of "customer" and "property:<name>" items')
    problems = []
    seen: set[str] = set()
    properties = 0
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if not isinstance(item, str) or not (item == CUSTOMER or item.startswith(PROPERTY_PREFIX)):
            problems.append({"path": item_path, "message": 'must be "customer" or "property:<name>"'})
            continue
        if item in seen:
            problems.append({"path": item_path, "message": "is listed twice"})
            continue
        seen.add(item)
        if item == CUSTOMER:
            continue
        name = item[len(PROPERTY_PREFIX) :]
        properties += 1
        if not 1 <= len(name) <= MAX_PROPERTY_NAME_LENGTH:
            problems.append(
                {
                    "path": item_path,
                    "message": f"the property name must be 1 to {MAX_PROPERTY_NAME_LENGTH} characters",
                }
            )
        elif properties > MAX_GROUP_PROPERTIES:
            problems.append({"path": item_path, "message": f"at most {MAX_GROUP_PROPERTIES} properties"})
    if problems:
        raise _FieldErrors(problems)
    return tuple(value)


def _integer(minimum: int, maximum: int) -> Callable[[Any, str], int]:
    def check(value: Any, _: str) -> int:
        return check_integer(value, minimum, maximum)

    return check


_CHECKS: tuple[tuple[str, Callable[[Any, str], Any]], ...] = (
    ("from", _timestamp),
    ("to", _timestamp),
    ("granularity", _choice(Granularity)),
    ("window_size", _choice(WindowSize)),
    ("timezone", _timezone),
    ("metric_keys", _string_list(MAX_METRIC_KEYS, MAX_METRIC_KEY_LENGTH)),
    ("customer_ids", _string_list(MAX_CUSTOMERS, MAX_ID_LENGTH)),
    ("external_customer_ids", _string_list(MAX_CUSTOMERS, MAX_ID_LENGTH)),
    ("group_by", _group_by),
    ("rollup", _choice(Rollup)),
    ("limit", _integer(1, MAX_LIMIT)),
    ("offset", _integer(0, MAX_OFFSET)),
)


# --- SQL ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: dict[str, Any]


# Start of the window holding ``period_start``, in the query's time zone, as a DateTime.
_WINDOW_START = {
    WindowSize.HOUR: "toStartOfHour(period_start, {tz:String})",
    WindowSize.DAY: "toStartOfDay(period_start, {tz:String})",
    WindowSize.WEEK: "toDateTime(toMonday(period_start, {tz:String}), {tz:String})",
    WindowSize.MONTH: "toDateTime(toStartOfMonth(period_start, {tz:String}), {tz:String})",
    WindowSize.QUARTER: "toDateTime(toStartOfQuarter(period_start, {tz:String}), {tz:String})",
    WindowSize.YEAR: "toDateTime(toStartOfYear(period_start, {tz:String}), {tz:String})",
    WindowSize.ALL: "toDateTime(0, 'UTC')",
}
# End of the window starting at ``window_start``: the start of the window one and a half windows
# later (a local day lasts 23 to 25 hours, a month 28 to 31 days...), so DST days and short months
# end exactly where the next window starts, by ClickHouse's own calendar.
_WINDOW_END = {
    WindowSize.HOUR: "toStartOfHour(window_start + INTERVAL 90 MINUTE, {tz:String})",
    WindowSize.DAY: "toStartOfDay(window_start + INTERVAL 36 HOUR, {tz:String})",
    WindowSize.WEEK: "toDateTime(toMonday(window_start + INTERVAL 10 DAY, {tz:String}), {tz:String})",
    WindowSize.MONTH: "toDateTime(toStartOfMonth(window_start + INTERVAL 45 DAY, {tz:String}), {tz:String})",
    WindowSize.QUARTER: (
        "toDateTime(toStartOfQuarter(window_start + INTERVAL 135 DAY, {tz:String}), {tz:String})"
    ),
    WindowSize.YEAR: "toDateTime(toStartOfYear(window_start + INTERVAL 540 DAY, {tz:String}), {tz:String})",
    WindowSize.ALL: "window_start",
}
# A rollup over the values of one window (``last``: the value of the latest period).
_ROLLUP_VALUE = {
    Rollup.SUM: "sum(value)",
    Rollup.MAX: "max(value)",
    Rollup.MIN: "min(value)",
    Rollup.AVG: "avg(value)",
    Rollup.LAST: "argMax(value, period_start)",
}
# The same rollups over partial ones (a month's summary, or one value as its own partial): every
# rollup is exact from the parts' sum, min, max, count and last.
_ROLLUP_PARTS = {
    Rollup.SUM: "sum(part_sum)",
    Rollup.MAX: "max(part_max)",
    Rollup.MIN: "min(part_min)",
    Rollup.AVG: "sum(part_sum) / sum(part_count)",
    Rollup.LAST: "argMax(part_last, part_last_period)",
}
_VALUE_AS_PARTS = (
    "value AS part_sum, value AS part_min, value AS part_max, toUInt64(1) AS part_count, "
    "value AS part_last, period_start AS part_last_period"
)
_PARTS = "part_sum, part_min, part_max, part_count, part_last, part_last_period"
# A grouped property's JSON value (ClickHouse's rendering, as the search's property filters use);
# absent and JSON null are the same group, '' (sorted first, answered as null). One column per
# property (plain String group keys), gathered into the series' array after grouping.
_PROPERTY_VALUE = "if({raw} = 'null', '', {raw})".format(raw="JSONExtractRaw(properties, {{{name}:String}})")
_NO_PROPERTIES = "CAST([], 'Array(String)')"


def value_bounds(query: UsageQuery) -> tuple[int, int] | None:
    """``[from, to)`` as inclusive bounds on ``period_start`` (whole seconds within the range of
    ClickHouse's DateTime); None when no stored value can lie in it."""
    first = max(_ceil_seconds(query.start), 0)
    last = min(_ceil_seconds(query.end) - 1, _MAX_DATETIME)
    return (first, last) if first <= last else None


def _ceil_seconds(moment: datetime) -> int:
    return math.ceil((moment - _EPOCH) / timedelta(seconds=1))


# (YYYYMM, version) of the months read from their current monthly summary (``current_summaries``).
Summaries = Sequence[tuple[int, int]]


def rollup_page(
    org_id: str,
    query: UsageQuery,
    customer_ids: Sequence[str] | None,
    configured: dict[str, Rollup] | None = None,
    table: str | None = None,
    summaries: Summaries = (),
) -> Statement:
    """The page's series in order, one row each with its windows as arrays (ascending) and the
    numbers of series and of the page's windows: (metric_key, customer_id, properties, rollup,
    window starts, window ends, values, periods, series index, total series, page windows).
    ``customer_ids``: the selected customers (None: all). ``configured``: the metrics' configured
    rollups (``configured_rollups``; unused with an override). When the page holds more than
    ``MAX_WINDOWS_PER_PAGE`` windows, its rows come without windows. ``summaries``: the months
    read from their monthly summary (``current_summaries``), every other month from the values."""
    windows = _window_rows(org_id, query, customer_ids, configured or {}, table, summaries)
    # Series are numbered and paged as one row each (their windows in an array): the window
    # functions and the sort see one row per series, not one per window.
    series = (
        "SELECT metric_key, customer_id, props, rollup, "
        "arraySort(groupArray((window_start, rolled, periods))) AS windows, "
        "row_number() OVER (ORDER BY metric_key, customer_id, props) AS series_index, "
        "count() OVER () AS total_series "
        f"FROM ({windows.sql}) GROUP BY metric_key, customer_id, props, rollup "
        "ORDER BY series_index LIMIT {limit:UInt64} OFFSET {offset:UInt64}"
    )
    page = f"SELECT *, sum(length(windows)) OVER () AS page_windows FROM ({series})"
    # A page over the cap is answered without its windows (the caller turns it into a 422).
    kept = "if(page_windows > {max_windows:UInt64}, [], windows)"
    starts = f"arrayMap(window -> window.1, {kept})"
    end = _WINDOW_END[query.window_size]
    sql = (
        "SELECT metric_key, customer_id, props, rollup, "
        f"arrayMap(window_start -> toUnixTimestamp(window_start), {starts}), "
        f"arrayMap(window_start -> toUnixTimestamp({end}), {starts}), "
        f"arrayMap(window -> window.2, {kept}), arrayMap(window -> window.3, {kept}), "
        f"series_index, total_series, page_windows FROM ({page}) ORDER BY series_index"
    )
    parameters = {
        **windows.parameters,
        "offset": query.offset,
        "limit": query.limit,
        "max_windows": MAX_WINDOWS_PER_PAGE,
    }
    return Statement(sql, parameters)


def count_series(
    org_id: str,
    query: UsageQuery,
    customer_ids: Sequence[str] | None,
    table: str | None = None,
    summaries: Summaries = (),
) -> Statement:
    """How many series the query has (for a page past the last series, which carries no count)."""
    by_sum = replace(query, rollup=Rollup.SUM)  # the rollup changes no series
    windows = _window_rows(org_id, by_sum, customer_ids, {}, table, summaries)
    sql = f"SELECT count() FROM (SELECT DISTINCT metric_key, customer_id, props FROM ({windows.sql}))"
    return Statement(sql, windows.parameters)


def summary_months(query: UsageQuery, table: str) -> list[int]:
    """The months (YYYYMM) that could be read from a monthly summary: reads of the metric-ordered
    copy (many customers) into windows made of whole UTC months, and only the months wholly
    inside ``[from, to)``."""
    bounds = value_bounds(query)
    if (
        bounds is None
        or table != USAGE_EVENTS_BY_METRIC
        or query.window_size not in _MONTHLY_WINDOWS
        or query.timezone not in UTC_NAMES
    ):
        return []
    return whole_months(*bounds)


def current_summaries(months: Sequence[int]) -> Statement:
    """(YYYYMM, version) of those of ``months`` whose monthly summary holds the partition's current
    values: a complete refresh at the partition's current version (``core.usage_summary``)."""
    sql = (
        f"SELECT month, version FROM ({partition_versions_sql('months')}) "
        f"WHERE (month, version) IN (SELECT month, source_version FROM {USAGE_MONTHLY_REFRESHES} "
        "WHERE month IN {months:Array(UInt32)}) ORDER BY month"
    )
    return Statement(sql, {"months": list(months)})


def page_context(org_id: str, query: UsageQuery, months: Sequence[int]) -> Statement | None:
    """What the page needs first, in one statement (one round trip): the organization's configured
    rollups (``configured_rollups``, all of them, without an override) and the current summaries of ``months``
    (``current_summaries``), as rows (kind, metric_key, rollup, month, version) with kind
    ``rollup`` or ``summary``; read with ``context_from_rows``. None when nothing is needed."""
    parts: list[Statement] = []
    if query.rollup is None:
        rollups = configured_rollups(org_id)  # all of them: what RecentContexts keeps
        sql = f"SELECT 'rollup', metric_key, rollup, toUInt32(0), toUInt64(0) FROM ({rollups.sql})"
        parts.append(Statement(sql, rollups.parameters))
    if months:
        summaries = current_summaries(months)
        parts.append(
            Statement(
                f"SELECT 'summary', '', '', month, version FROM ({summaries.sql})", summaries.parameters
            )
        )
    if not parts:
        return None
    parameters = {name: value for part in parts for name, value in part.parameters.items()}
    return Statement(" UNION ALL ".join(part.sql for part in parts), parameters)


def context_from_rows(rows: Sequence[Sequence[Any]]) -> tuple[dict[str, Rollup], list[tuple[int, int]]]:
    """Rows of ``page_context`` as (configured rollups, current summaries in month order)."""
    configured = rollups_from_rows(
        [(metric, rollup) for kind, metric, rollup, _, _ in rows if kind == "rollup"]
    )
    summaries = sorted((int(month), int(version)) for kind, _, _, month, version in rows if kind == "summary")
    return configured, summaries


def configured_rollups(org_id: str) -> Statement:
    """The current configured rollup of each of the organization's metrics, from the control
    plane's view: read for every query, so a change applies to the next one."""
    sql = f"SELECT metric_key, rollup FROM {METRIC_ROLLUPS_CURRENT} WHERE org_id = {{org_id:String}}"
    return Statement(sql, {"org_id": org_id})


def rollups_from_rows(rows: Sequence[Sequence[Any]]) -> dict[str, Rollup]:
    """Rows of ``configured_rollups`` as metric -> rollup (anything unknown counts as sum)."""
    known = {rollup.value: rollup for rollup in Rollup}
    return {str(metric): known.get(str(rollup), Rollup.SUM) for metric, rollup in rows}


def _rollups_in_play(query: UsageQuery, configured: dict[str, Rollup]) -> set[Rollup]:
    if query.rollup is not None:
        return {query.rollup}
    if query.metric_keys is not None:
        return {configured.get(metric, Rollup.SUM) for metric in query.metric_keys}
    return {Rollup.SUM, *configured.values()}


def _rollup_columns(
    in_play: set[Rollup],
    configured: dict[str, Rollup],
    parameters: dict[str, Any],
    aggregates: dict[Rollup, str],
) -> tuple[str, str]:
    """The ``rollup`` column and the aggregate computing the rolled-up value. One rollup for every
    metric in play (an override, or the configured ones agree: the usual case) computes that
    aggregate alone; otherwise each metric's rollup picks among the aggregates in use."""
    if len(in_play) == 1:
        (rollup,) = in_play
        parameters["rollup"] = rollup.value
        return "{rollup:String}", aggregates[rollup]
    parameters["rollup_metrics"] = list(configured)
    parameters["rollup_names"] = [rollup.value for rollup in configured.values()]
    choices = ", ".join(
        f"rollup = '{rollup.value}', {aggregates[rollup]}" for rollup in Rollup if rollup in in_play
    )
    column = "transform(metric_key, {rollup_metrics:Array(String)}, {rollup_names:Array(String)}, 'sum')"
    return column, f"multiIf({choices}, {aggregates[Rollup.SUM]})"


def table_for(customer_ids: Sequence[str] | None) -> str:
    """The copy whose order suits the selection: a few customers' values are contiguous in the
    customer-ordered copy; one metric's values over a time range in the metric-ordered one."""
    if customer_ids is not None and len(customer_ids) <= MAX_CUSTOMERS_READ_BY_CUSTOMER:
        return USAGE_EVENTS_BY_CUSTOMER
    return USAGE_EVENTS_BY_METRIC


def _window_rows(
    org_id: str,
    query: UsageQuery,
    customer_ids: Sequence[str] | None,
    configured: dict[str, Rollup],
    table: str | None,
    summaries: Summaries,
) -> Statement:
    """One row per series and window: (metric_key, customer_id, props, window_start, rollup,
    rolled, periods); customer_id is '' when not grouped by customer."""
    bounds = value_bounds(query)
    assert bounds is not None, "an empty range is answered without SQL"
    parameters: dict[str, Any] = {
        "org_id": org_id,
        "granularity": query.granularity.value,
        "first": bounds[0],
        "last": bounds[1],
        "tz": query.timezone,
    }
    selection = ["org_id = {org_id:String}", "granularity = {granularity:String}"]
    if query.metric_keys is not None:
        selection.append("metric_key IN {metric_keys:Array(String)}")
        parameters["metric_keys"] = list(query.metric_keys)
    if customer_ids is not None:
        selection.append("customer_id IN {customer_ids:Array(String)}")
        parameters["customer_ids"] = list(customer_ids)
    if query.metric_keys is not None:  # the configured rollups of the metrics in play only
        configured = {metric: configured[metric] for metric in query.metric_keys if metric in configured}
    in_play = _rollups_in_play(query, configured)
    rollup, rolled = _rollup_columns(
        in_play, configured, parameters, _ROLLUP_PARTS if summaries else _ROLLUP_VALUE
    )
    # Without customer in group_by a window's value is the sum over customers of each customer's
    # rolled-up value; for sums that is the sum of all the values, grouped without customers.
    per_customer = query.by_customer or in_play != {Rollup.SUM}
    columns = ["metric_key", f"{_WINDOW_START[query.window_size]} AS window_start"]
    columns.append(_PARTS if summaries else "value")
    keys = ["metric_key", "window_start"]
    if per_customer:
        columns.append("customer_id")
        keys.append("customer_id")
    if Rollup.LAST in in_play and not summaries:
        columns.append("period_start")
    props = _NO_PROPERTIES  # without property groups, properties are not even read
    if query.group_properties:
        names = [f"group_property_{index}" for index in range(len(query.group_properties))]
        parameters.update(zip(names, query.group_properties, strict=True))
        columns += [f"{_PROPERTY_VALUE.format(name=name)} AS {name}" for name in names]
        keys += names
        props = f"[{', '.join(names)}]"
    source = _values(table or table_for(customer_ids), selection, summaries, query, parameters, per_customer)
    values = f"SELECT {', '.join(columns)} FROM {source}"
    customer = "customer_id" if per_customer else "'' AS customer_id"
    periods = "sum(part_count)" if summaries else "count()"
    grouped = (
        f"SELECT metric_key, {customer}, {props} AS props, window_start, {rollup} AS rollup, "
        f"{rolled} AS rolled, {periods} AS periods FROM ({values}) GROUP BY {', '.join(keys)}"
    )
    if query.by_customer or not per_customer:
        return Statement(grouped, parameters)
    summed = (
        "SELECT metric_key, '' AS customer_id, props, window_start, rollup, sum(rolled) AS rolled, "
        f"sum(periods) AS periods FROM ({grouped}) GROUP BY metric_key, props, window_start, rollup"
    )
    return Statement(summed, parameters)


def _values(
    table: str,
    selection: list[str],
    summaries: Summaries,
    query: UsageQuery,
    parameters: dict[str, Any],
    per_customer: bool,
) -> str:
    """The FROM clause of the current values in range: the table with FINAL (every condition is
    on a sorting-key column, shared by all versions of a value, so FINAL applies the replacements
    before anything reads value or properties); with ``summaries``, the summarized months' rows of
    ``usage_monthly`` (``usage_monthly_by_properties`` when grouping by properties) instead of
    their values, and every other value as a partial of its own. Without ``per_customer`` (sums
    across customers), the summaries grouped by properties are first added up per properties text
    (its property values are then parsed once per text and month, not once per customer)."""
    in_range = [
        *selection,
        "period_start >= toDateTime({first:UInt32}, 'UTC')",
        "period_start <= toDateTime({last:UInt32}, 'UTC')",
    ]
    if not summaries:
        return f"{table} FINAL WHERE {' AND '.join(in_range)}"
    months = [month for month, _ in summaries]
    parameters["summaries"] = [(month, version) for month, version in summaries]
    summarized = [*selection, "(toYYYYMM(month), source_version) IN {summaries:Array(Tuple(UInt32, UInt64))}"]
    # Grouped by properties: the summaries per customer and properties text.
    properties = ", properties" if query.group_properties else ""
    summary_table = USAGE_MONTHLY_BY_PROPERTIES if query.group_properties else USAGE_MONTHLY
    monthly = (
        f"SELECT metric_key, customer_id, month AS period_start{properties}, {_PARTS} "
        f"FROM {summary_table} FINAL WHERE {' AND '.join(summarized)} "
        # A month's summary at one version is one partition, and FINAL must not merge across
        # them: the month's other versions share every sorting key, and FINAL would keep one of
        # their rows, which the filter on source_version then drops. Within a partition it skips
        # a partition of one merged part, as a refresh writes it.
        "SETTINGS do_not_merge_across_partitions_select_final = 1"
    )
    if query.group_properties and not per_customer:
        monthly = (
            "SELECT metric_key, '' AS customer_id, period_start, properties, "
            "sum(summary.part_sum) AS part_sum, min(summary.part_min) AS part_min, "
            "max(summary.part_max) AS part_max, sum(summary.part_count) AS part_count, "
            "argMax(summary.part_last, summary.part_last_period) AS part_last, "
            "max(summary.part_last_period) AS part_last_period "
            f"FROM ({monthly}) AS summary GROUP BY metric_key, period_start, properties"
        )
    if months_cover(months, parameters["first"], parameters["last"]):
        return f"({monthly})"  # no value of the range is outside the summaries
    parameters["summary_months"] = months
    daily = (
        f"SELECT metric_key, customer_id, period_start{properties}, {_VALUE_AS_PARTS} FROM {table} FINAL "
        f"WHERE {' AND '.join(in_range)} AND toYYYYMM(period_start) NOT IN {{summary_months:Array(UInt32)}}"
    )
    return f"({daily} UNION ALL {monthly})"


def resolve_external_ids(org_id: str, external_ids: Sequence[str]) -> Statement:
    """(external_id, customer_id) of each external ID that currently resolves (not removed)."""
    sql = (
        "SELECT external_id, customer_id FROM ("
        "SELECT external_id, argMax(customer_id, version) AS customer_id, "
        "argMax(is_deleted, version) AS deleted "
        f"FROM {CUSTOMER_EXTERNAL_IDS} WHERE org_id = {{org_id:String}} "
        "AND external_id IN {external_ids:Array(String)} GROUP BY external_id) WHERE deleted = 0"
    )
    return Statement(sql, {"org_id": org_id, "external_ids": list(external_ids)})


# --- answering ----------------------------------------------------------------------------------------


class UsageWindow(TypedDict):
    """One window as the API answers it (built once, in that shape)."""

    start: str  # RFC 3339, UTC, Z
    end: str
    value: int | float  # an integral value is an int (prints without .0)
    periods: int


@dataclass(frozen=True)
class UsageSeries:
    metric_key: str
    customer_id: str | None  # None when not grouped by customer
    properties: dict[str, Any] | None  # None when not grouped by properties
    rollup: str
    windows: list[UsageWindow]


@dataclass(frozen=True)
class UsageResult:
    query: UsageQuery
    series: list[UsageSeries]
    total_series: int
    unresolved_external_customer_ids: list[str]

    def to_json(self) -> dict[str, Any]:
        """The response body of ``POST /v1/usage/query``."""
        query = self.query
        return {
            "from": format_utc(query.start),
            "to": format_utc(query.end),
            "granularity": query.granularity.value,
            "window_size": query.window_size.value,
            "timezone": query.timezone,
            "series": [_series_json(series) for series in self.series],
            "total_series": self.total_series,
            "limit": query.limit,
            "offset": query.offset,
            "unresolved_external_customer_ids": self.unresolved_external_customer_ids,
        }


Runner = Callable[[Statement], Sequence[Sequence[Any]]]


def run_usage_query(
    org_id: str,
    query: UsageQuery,
    run: Runner,
    table: str | None = None,
    contexts: RecentContexts | None = None,
) -> UsageResult:
    """Answers ``query`` for ``org_id`` with ``run`` (executes a statement, returns its rows; called
    from two threads at once with ``contexts``). Raises ``UsageValidationError`` (on
    ``window_size``) when the page would hold more than ``MAX_WINDOWS_PER_PAGE`` windows.

    With ``contexts``, a query starts its page with what earlier contexts said
    (``RecentContexts.guess``) while the fresh context is read alongside (one round trip less to
    wait for); the page is used only if its context still holds in the fresh one
    (``PageContext.holds_in``), and is made again from the fresh one otherwise."""
    customers, unresolved = _selected_customers(org_id, query, run)
    if (customers is not None and not customers) or value_bounds(query) is None:
        return UsageResult(query, [], 0, unresolved)
    table = table or table_for(customers)
    months = summary_months(query, table)
    context = page_context(org_id, query, months)

    def page(used: PageContext) -> Sequence[Sequence[Any]]:
        return run(rollup_page(org_id, query, customers, used.configured, table, used.summaries))

    with_rollups = query.rollup is None
    if context is None:
        used = PageContext({}, ())
        rows = page(used)
    else:
        guess = contexts.guess(org_id, with_rollups, months) if contexts is not None else None
        if guess is None or contexts is None:
            used = fresh = PageContext.from_rows(run(context))
            rows = page(used)
        else:
            reading = contexts.submit(run, context)
            rows = page(guess)
            fresh = PageContext.from_rows(reading.result())
            used = guess
            if not guess.holds_in(fresh):
                used = fresh
                rows = page(used)
        if contexts is not None:
            contexts.learn(org_id, with_rollups, months, fresh)
    if rows and int(rows[0][10]) > MAX_WINDOWS_PER_PAGE:
        raise UsageValidationError(
            [
                {
                    "path": "window_size",
                    "message": f"this page would hold more than {MAX_WINDOWS_PER_PAGE} windows: "
                    "use larger windows, a shorter range or a smaller limit",
                }
            ]
        )
    if rows:
        total = int(rows[0][9])
    elif query.offset == 0:
        total = 0
    else:
        total = int(run(count_series(org_id, query, customers, table, used.summaries))[0][0])
    return UsageResult(query, series_from_rows(query, rows), total, unresolved)


@dataclass(frozen=True)
class PageContext:
    """What a page is made with: the configured rollups and the current summaries (month order)."""

    configured: dict[str, Rollup]
    summaries: tuple[tuple[int, int], ...]

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> PageContext:
        configured, summaries = context_from_rows(rows)
        return cls(configured, tuple(summaries))

    def holds_in(self, fresh: PageContext) -> bool:
        """Whether a page made with this context answers like one made with ``fresh``: the same
        rollups, and each summary it read still current (a month it read from its values is
        always current)."""
        return self.configured == fresh.configured and set(self.summaries) <= set(fresh.summaries)


class RecentContexts:
    """What the latest contexts said, for the next query to start its page with: each
    organization's configured rollups, and the version of each month's current summary (a
    month's partition is shared by every organization), with the threads that read the fresh
    context alongside. Bounded (the organizations used least recently go); shared by the threads
    of a process."""

    def __init__(self, organizations: int = 4096, readers: int = 8) -> None:
        self._organizations = organizations
        self._rollups: OrderedDict[str, dict[str, Rollup]] = OrderedDict()
        self._summaries: dict[int, int] = {}  # month -> version of its current summary, 0: none
        self._lock = threading.Lock()
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="usage-context")

    def guess(self, org_id: str, with_rollups: bool, months: Sequence[int]) -> PageContext | None:
        """The context a page of ``months`` can start with (None: the organization's rollups are
        needed and not known yet). A month not known yet is read from its values."""
        with self._lock:
            configured: dict[str, Rollup] = {}
            if with_rollups:
                known = self._rollups.get(org_id)
                if known is None:
                    return None
                self._rollups.move_to_end(org_id)
                configured = known
            summaries = tuple(
                (month, self._summaries[month]) for month in months if self._summaries.get(month)
            )
            return PageContext(configured, summaries)

    def learn(self, org_id: str, with_rollups: bool, months: Sequence[int], fresh: PageContext) -> None:
        with self._lock:
            if with_rollups:
                self._rollups[org_id] = fresh.configured
                self._rollups.move_to_end(org_id)
                while len(self._rollups) > self._organizations:
                    self._rollups.popitem(last=False)
            current = dict(fresh.summaries)
            for month in months:
                self._summaries[month] = current.get(month, 0)

    def submit(self, run: Runner, statement: Statement) -> Future[Sequence[Sequence[Any]]]:
        return self._readers.submit(run, statement)

    def close(self) -> None:
        self._readers.shutdown(wait=False, cancel_futures=True)


def _selected_customers(org_id: str, query: UsageQuery, run: Runner) -> tuple[list[str] | None, list[str]]:
    """The customers to read (None: every customer) and the external IDs that resolve to none.
    Customer IDs and resolved external IDs add up."""
    if query.customer_ids is None and query.external_customer_ids is None:
        return None, []
    customers = dict.fromkeys(query.customer_ids or ())
    unresolved: list[str] = []
    if query.external_customer_ids is not None:
        resolved = {
            str(ext): str(customer)
            for ext, customer in run(resolve_external_ids(org_id, query.external_customer_ids))
        }
        for external_id in query.external_customer_ids:
            if external_id in resolved:
                customers[resolved[external_id]] = None
            else:
                unresolved.append(external_id)
    return list(customers), unresolved


def series_from_rows(query: UsageQuery, rows: Sequence[Sequence[Any]]) -> list[UsageSeries]:
    """Rows of ``rollup_page`` (one per series, in order) as series. Window bounds are formatted
    once per distinct list of window starts (the series of a page share a few)."""
    texts: dict[int, str] = {}
    whole = (format_utc(query.start), format_utc(query.end)) if query.window_size is WindowSize.ALL else None
    bounds_of: dict[tuple[int, ...], list[tuple[str, str]]] = {}
    series: list[UsageSeries] = []
    for metric_key, customer_id, props, rollup, starts, ends, values, periods, *_ in rows:
        key = tuple(starts)
        bounds = bounds_of.get(key)
        if bounds is None:
            bounds = bounds_of[key] = [
                whole or (_utc_text(texts, int(start)), _utc_text(texts, int(end)))
                for start, end in zip(starts, ends, strict=True)
            ]
        windows: list[UsageWindow] = [
            {"start": start, "end": end, "value": json_number(float(value)), "periods": int(count)}
            for (start, end), value, count in zip(bounds, values, periods, strict=True)
        ]
        series.append(
            UsageSeries(
                metric_key=str(metric_key),
                customer_id=str(customer_id) if query.by_customer else None,
                properties=_properties(query.group_properties, props) if query.group_properties else None,
                rollup=str(rollup),
                windows=windows,
            )
        )
    return series


def _utc_text(texts: dict[int, str], seconds: int) -> str:
    text = texts.get(seconds)
    if text is None:
        text = texts[seconds] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    return text


def _properties(names: Sequence[str], raw_values: Sequence[str]) -> dict[str, Any]:
    return {name: orjson.loads(raw) if raw else None for name, raw in zip(names, raw_values, strict=True)}


def _series_json(series: UsageSeries) -> dict[str, Any]:
    body: dict[str, Any] = {"metric_key": series.metric_key}
    if series.customer_id is not None:
        body["customer_id"] = series.customer_id
    if series.properties is not None:
        body["properties"] = series.properties
    body["rollup"] = series.rollup
    body["windows"] = series.windows
    return body
