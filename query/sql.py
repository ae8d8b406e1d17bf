"""The SQL the query service sends to ClickHouse (pure: strings and parameter dicts only).

Every value travels as a server-side bound parameter (``{name:Type}``), property-filter keys too;
nothing from a request is ever formatted into the SQL text. Table names come from ``core.names``.

Reads are correct before ClickHouse merges parts:

* fetch: every version of a stored value shares its ``event_id`` (derived from the replace key), so
  the newest row of ``org_id + event_id`` (``ORDER BY version DESC LIMIT 1``) is the current value;
  ``usage_event_locator`` maps the ``event_id`` to the replace key first, so the row itself is read
  by primary key;
* search: ``FINAL`` in an inner query that filters only on columns that never change between the
  versions of one value (``org_id``, ``customer_id``, ``metric_key``: sorting-key columns), and every
  filter on a column a replacement can change (``event_type``, ``created_at``, ``properties``) in
  the outer query, i.e. after the replace, so an old version can never match in place of the
  current one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.api_keys import CURRENT_KEY_HASHES_SQL
from core.names import (
    CUSTOMER_EXTERNAL_IDS,
    USAGE_EVENT_LOCATOR,
    USAGE_EVENTS,
    USAGE_EVENTS_BY_CUSTOMER,
    USAGE_PROPERTY_SETS,
)
from core.periods import Granularity, period_start
from query.plan import plan_search
from query.search import SearchRequest

EVENT_COLUMNS = (
    "event_id",
    "customer_id",
    "external_customer_id",
    "metric_key",
    "event_type",
    "value",
    "granularity",
    "period_start",
    "created_at",
    "properties",
)
_COLUMNS = ", ".join(EVENT_COLUMNS)
# UUIDs compare by their internal layout in ClickHouse; users expect the order of the text form.
# (toUInt128 of a UUID orders exactly like its text and is much cheaper than toString.)
ORDERING = "ORDER BY created_at, toUInt128(event_id)"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_DATETIME = 2**32 - 1  # ClickHouse DateTime is seconds since the epoch as UInt32


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: dict[str, Any]


def current_key_hashes() -> Statement:
    """(org_id, key_hash) of every organization's current key (the highest version)."""
    return Statement(CURRENT_KEY_HASHES_SQL, {})


def fetch_event(org_id: str, event_id: str) -> Statement:
    """Two primary-key lookups: the locator gives the replace key (a scalar subquery, so it is a
    constant when the main read is planned: partition and key pruning), then the newest version."""
    locate = (
        "SELECT tuple(customer_id, metric_key, granularity, period_start) "
        f"FROM {USAGE_EVENT_LOCATOR} "
        "WHERE org_id = {org_id:String} AND event_id = {event_id:UUID} LIMIT 1"
    )
    sql = (
        f"WITH ({locate}) AS key SELECT {_COLUMNS} FROM {USAGE_EVENTS_BY_CUSTOMER} "
        "WHERE org_id = {org_id:String} AND customer_id = key.1 AND metric_key = key.2 "
        "AND granularity = key.3 AND period_start = key.4 AND event_id = {event_id:UUID} "
        "ORDER BY version DESC LIMIT 1 "
        # Two one-granule reads: one thread skips the scheduling of parallel readers (-3 ms at 10M).
        "SETTINGS max_threads = 1"
    )
    return Statement(sql, {"org_id": org_id, "event_id": event_id})


def search_page(org_id: str, request: SearchRequest) -> Statement:
    """The page and, in its last column, ``total`` (a window count over every match: one pass)."""
    return _ordered_page(org_id, request, ", count() OVER () AS total")


def page_of_matches(org_id: str, request: SearchRequest) -> Statement:
    """The page alone (the total is known already): the ``request`` is narrowed to the days that
    hold the page (``query.paging``), so only their values are read and ordered."""
    return _ordered_page(org_id, request, "")


def _ordered_page(org_id: str, request: SearchRequest, extra_columns: str) -> Statement:
    matches = _matches(org_id, request)
    sql = (
        f"SELECT {_COLUMNS}{extra_columns} FROM ({matches.sql}) {ORDERING} "
        "LIMIT {limit:UInt64} OFFSET {offset:UInt64}"
    )
    return Statement(sql, {**matches.parameters, "limit": request.limit, "offset": request.offset})


def _filter_columns(request: SearchRequest) -> str:
    """The columns the outer filters of ``_matches`` read (``created_at`` always: ordering)."""
    return "created_at, event_type" + (", properties" if request.property_filters else "")


def partition_fingerprints() -> Statement:
    """Each partition of ``usage_events`` with a fingerprint of its active parts: an insert or a
    merge changes it (part names are not reused within a table; the rows and modification time
    cover a table dropped and created again)."""
    part = "concat(name, ':', toString(rows), ':', toString(toUnixTimestamp(modification_time)))"
    sql = (
        f"SELECT partition_id, toString(sipHash64(arrayStringConcat(arraySort(groupArray({part})), ','))) "
        "FROM system.parts WHERE database = currentDatabase() AND table = {table:String} AND active "
        "GROUP BY partition_id"
    )
    return Statement(sql, {"table": USAGE_EVENTS})


def day_counts(org_id: str, request: SearchRequest, partitions: list[str]) -> Statement:
    """Matches per partition and UTC day of created_at: the exact total without a sort, and where a
    deep page lies (``query.paging``). Only ``partitions`` are read (every version of a value lives
    in one partition, so FINAL is exact partition by partition). The partition comes out as
    ``toYYYYMM(period_start)``, the partition key of ``usage_events`` (migration 0002), whose text
    is the partition's ID (grouping by that number is cheaper than by the ``_partition_id`` text)."""
    matches = _matches(org_id, request, "period_start, " + _filter_columns(request), partitions, USAGE_EVENTS)
    sql = (
        "SELECT toYYYYMM(period_start) AS partition_id, toDate(created_at) AS day, count() "
        f"FROM ({matches.sql}) GROUP BY partition_id, day ORDER BY partition_id, day"
    )
    return Statement(sql, matches.parameters)


def partition_profiles(org_id: str, partitions: list[str], max_keys: int) -> Statement:
    """Per partition, the current values of the organization per (metric, event_type, properties
    hash) and UTC day of created_at (days and counts as two aligned arrays): the counts of every
    profiled search (``query.plan``) from one read. At most ``max_keys`` rows per partition."""
    columns = "period_start, metric_key, created_at, event_type, properties"
    matches = _matches(org_id, SearchRequest(), columns, partitions, USAGE_EVENTS)
    per_day = (
        "SELECT toYYYYMM(period_start) AS partition_id, toDate(created_at) AS day, metric_key, event_type, "
        f"cityHash64(properties) AS properties_hash, count() AS current_values FROM ({matches.sql}) "
        "GROUP BY partition_id, day, metric_key, event_type, properties_hash"
    )
    sql = (
        "SELECT partition_id, metric_key, event_type, properties_hash, groupArray(day), "
        f"groupArray(current_values) FROM ({per_day}) GROUP BY partition_id, metric_key, event_type, "
        "properties_hash LIMIT {max_keys:UInt64} BY partition_id"
    )
    return Statement(sql, {**matches.parameters, "max_keys": max_keys})


def matching_property_sets(org_id: str, request: SearchRequest) -> Statement:
    """The hashes of the organization's properties texts that every property filter matches (the
    same conditions as a search's: the counts of a profile and the pages always agree)."""
    params: dict[str, Any] = {"org_id": org_id}
    conditions = " AND ".join(["org_id = {org_id:String}", *_property_conditions(request, params)])
    return Statement(f"SELECT DISTINCT properties_hash FROM {USAGE_PROPERTY_SETS} WHERE {conditions}", params)


def count_matches(org_id: str, request: SearchRequest, partitions: list[str] | None = None) -> Statement:
    """How many values match (only in ``partitions`` when given)."""
    matches = _matches(org_id, request, _filter_columns(request), partitions)
    return Statement(f"SELECT count() FROM ({matches.sql})", matches.parameters)


def _matches(
    org_id: str,
    request: SearchRequest,
    columns: str = _COLUMNS,
    partitions: list[str] | None = None,
    table: str | None = None,
) -> Statement:
    """Every current value of the organization matching the request (unordered), as ``columns``
    (which must hold every column a filter reads); only in ``partitions`` when given (partitions
    of ``usage_events``: read it as ``table``). The table is by default the copy whose order suits
    the request best."""
    inner = ["org_id = {org_id:String}"]
    params: dict[str, Any] = {"org_id": org_id}
    if partitions is not None:
        inner.append("_partition_id IN {partitions:Array(String)}")  # prunes the other partitions
        params["partitions"] = partitions
    if request.customer_id is not None:
        inner.append("customer_id = {customer_id:String}")
        params["customer_id"] = request.customer_id
    if request.external_customer_id is not None:
        inner.append(f"customer_id IN ({_customer_of_external_id()})")
        params["external_customer_id"] = request.external_customer_id
    if request.event_code is not None:
        inner.append("metric_key = {event_code:String}")
        params["event_code"] = request.event_code
    if request.created_at_from_us is not None:
        inner.append(_earliest_periods(request.created_at_from_us, params))
    if request.created_at_to_us is not None:
        inner.append("period_start <= fromUnixTimestamp64Micro({created_at_to:Int64}, 'UTC')")
    outer: list[str] = []
    if request.event_type is not None:
        outer.append("event_type = {event_type:String}")
        params["event_type"] = request.event_type
    if request.created_at_from_us is not None:
        outer.append("created_at >= fromUnixTimestamp64Micro({created_at_from:Int64}, 'UTC')")
        params["created_at_from"] = request.created_at_from_us
    if request.created_at_to_us is not None:
        outer.append("created_at <= fromUnixTimestamp64Micro({created_at_to:Int64}, 'UTC')")
        params["created_at_to"] = request.created_at_to_us
    outer.extend(_property_conditions(request, params))
    table = table or plan_search(request, profiles_on=False).table
    sql = f"SELECT {columns} FROM {table} FINAL WHERE {' AND '.join(inner)}"
    if outer:
        sql = f"SELECT * FROM ({sql}) WHERE {' AND '.join(outer)}"  # the inner query's columns
    return Statement(sql, params)


def _earliest_periods(created_at_from_us: int, params: dict[str, Any]) -> str:
    """A value with created_at >= created_at_from has, for its granularity, period_start >= the
    period of created_at_from: created_at lies inside its period (the period is the UTC bucket of the
    event's timestamp) and bucketing is monotonic. period_start is part of the replace key (all
    versions share it), so this is safe before the merge; it prunes whole monthly partitions and,
    in the period-ordered copy, all but a few ranges per granularity."""
    moment = _EPOCH + timedelta(microseconds=created_at_from_us)
    ranges = []
    for index, granularity in enumerate(Granularity):
        earliest = int(period_start(moment, granularity).timestamp())
        params[f"granularity{index}"] = granularity.value
        params[f"earliest{index}"] = min(max(earliest, 0), MAX_DATETIME)  # the range of DateTime
        ranges.append(
            f"(granularity = {{granularity{index}:String}} "
            f"AND period_start >= toDateTime({{earliest{index}:Int64}}, 'UTC'))"
        )
    return "(" + " OR ".join(ranges) + ")"


def _property_conditions(request: SearchRequest, params: dict[str, Any]) -> list[str]:
    """The property filters as conditions on a ``properties`` column (their values added to
    ``params``). Both sides go through ClickHouse's own JSON rendering, so 200 and 200.0 (or 1e2)
    compare equal as numbers while 200 and "200" (different JSON types) never do. The substring test
    first is a cheap necessary condition on the canonical text (AND short-circuits), so the JSON is
    parsed only for candidate rows."""
    conditions: list[str] = []
    for index, wanted in enumerate(request.property_filters):
        conditions.append(f"position(properties, {{pn{index}:String}}) > 0")
        params[f"pn{index}"] = wanted.needle
        conditions.append(
            f"JSONExtractRaw(properties, {{pk{index}:String}}) = JSONExtractRaw({{pv{index}:String}}, 'v')"
        )
        params[f"pk{index}"] = wanted.key
        params[f"pv{index}"] = '{"v":' + wanted.canonical_value + "}"
    return conditions


def _customer_of_external_id() -> str:
    """The customer an external ID currently resolves to (no row when unknown or removed)."""
    return (
        "SELECT customer_id FROM ("
        "SELECT argMax(customer_id, version) AS customer_id, argMax(is_deleted, version) AS deleted "
        f"FROM {CUSTOMER_EXTERNAL_IDS} "
        "WHERE org_id = {org_id:String} AND external_id = {external_customer_id:String} "
        "GROUP BY external_id) WHERE deleted = 0"
    )
