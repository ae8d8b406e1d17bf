"""Warehouse rows to usage events, under the push path's rules, and the tally of a run (pure logic).

The rules, by their definition (``check_page`` then ``RunTally.plan``): a page of rows (column
names + tuples, as every client returns them) becomes push-shaped events: warehouse types are
turned into their JSON form (timestamps to ISO 8601, decimals to numbers, JSON text to objects),
then each row is validated by ``ingress.push.validation`` and resolved and keyed by
``ingress.push.report.plan_push``: the same rules, report and replace key as a push.

What a run uses, ``PagePlanner``: the same result, byte for byte (property-tested against the
definition), without the detour through JSON forms and per-row dicts. Each row is checked on the
typed values the client returned; only a row those checks do not accept whole (invalid, or with
properties) goes through the push validator, for its verdict and its error report. Records are
assembled from per-page pieces (key and value heads per customer, period texts per hour).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from core.periods import Granularity, epoch_micros, format_utc, period_start
from core.records import SCHEMA_VERSION, replace_key_bytes
from core.storage_bounds import storable_timestamp
from ingress.push.report import (
    REPORT_LIMIT,
    UNKNOWN_CUSTOMER,
    UNKNOWN_CUSTOMER_REASON,
    PushPlan,
    plan_push,
)
from ingress.push.validation import (
    EVENT_TYPES,
    GRANULARITIES,
    MAX_EXTERNAL_ID_CHARS,
    MAX_METRIC_KEY_CHARS,
    ValidEvent,
    parse_timestamp,
    validate_event,
)

REQUIRED_COLUMNS = ("external_customer_id", "metric_key", "value")
OPTIONAL_COLUMNS = ("timestamp", "granularity", "properties", "event_type")


class QueryShapeError(ValueError):
    """The query's columns cannot make usage events (a permanent error of the source)."""


@dataclass
class Page:
    columns: list[str]
    rows: Sequence[Sequence[Any]]


@dataclass
class Layout:
    """Where each event column and the watermark column sit in a row."""

    positions: list[tuple[str, int]]
    watermark: int | None

    @classmethod
    def of(cls, columns: list[str], watermark_column: str) -> Layout:
        names = [column.lower() for column in columns]
        missing = [name for name in REQUIRED_COLUMNS if name not in names]
        if missing:
            raise QueryShapeError(
                f"the query returns no column {', '.join(missing)} (it returns: {', '.join(names) or 'none'})"
            )
        if watermark_column and watermark_column not in names:
            raise QueryShapeError(f"the query returns no column {watermark_column} (the watermark column)")
        positions = [
            (name, names.index(name)) for name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if name in names
        ]
        return cls(positions, names.index(watermark_column) if watermark_column else None)


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _json_value(name: str, value: Any) -> Any:
    """The JSON form of a warehouse value (the push path validates that form)."""
    kind = type(value)
    if kind is str or kind is float or kind is int or kind is bool or kind is dict:
        if kind is str and name == "properties":
            if not value.strip():
                return None  # an empty text column: no properties
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                return value
        return value
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00+00:00"
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def row_event(layout: Layout, row: Sequence[Any]) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for name, position in layout.positions:
        value = row[position]
        if value is not None:
            value = _json_value(name, value)
            if value is not None:
                event[name] = value
    return event


def watermark_of(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return parse_timestamp(value)
    return None


@dataclass
class CheckedPage:
    events: list[ValidEvent]
    event_rows: list[int]  # the run's row number of each event
    invalid: list[dict[str, Any]]  # first REPORT_LIMIT: {"row", "column", "reason"}
    invalid_count: int
    watermark: datetime | None


def check_page(layout: Layout, page: Page, first_row: int) -> CheckedPage:
    """Validates every row (row numbers count from the first row of the run, from 0)."""
    events: list[ValidEvent] = []
    event_rows: list[int] = []
    invalid: list[dict[str, Any]] = []
    invalid_count = 0
    watermark: datetime | None = None
    position = layout.watermark
    for offset, row in enumerate(page.rows):
        number = first_row + offset
        if position is not None:
            moment = watermark_of(row[position])
            if moment is not None and (watermark is None or moment > watermark):
                watermark = moment
        event, errors = validate_event(number, row_event(layout, row))
        if event is not None:
            events.append(event)
            event_rows.append(number)
            continue
        invalid_count += 1
        for error in errors:
            if len(invalid) < REPORT_LIMIT:
                column = error.path.partition(".")[2]
                invalid.append({"row": number, "column": column, "reason": error.message})
    return CheckedPage(events, event_rows, invalid, invalid_count, watermark)


@dataclass
class RunTally:
    """Counts and the first REPORT_LIMIT findings of one run (or test run)."""

    rows_read: int = 0
    matched: int = 0
    unmatched: int = 0
    invalid: int = 0
    written: int = 0
    watermark: datetime | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    unknown_customers: list[dict[str, Any]] = field(default_factory=list)
    unmatched_external_ids: dict[str, None] = field(default_factory=dict)
    invalid_rows: list[dict[str, Any]] = field(default_factory=list)
    metric_keys: set[str] = field(default_factory=set)

    def plan(
        self,
        org_id: str,
        checked: CheckedPage,
        rows: int,
        resolve: Callable[[str, str], str | None],
        live: bool,
        received_at: datetime,
    ) -> PushPlan:
        """Resolves a checked page and adds its findings; the plan's records are still to produce."""
        plan = plan_push(org_id, checked.events, resolve, live, received_at)
        self.rows_read += rows
        self.matched += plan.matched
        self.unmatched += plan.unmatched
        self.invalid += checked.invalid_count
        if checked.watermark is not None and (self.watermark is None or checked.watermark > self.watermark):
            self.watermark = checked.watermark
        self.metric_keys |= plan.metric_keys
        for item in plan.results[: max(0, REPORT_LIMIT - len(self.results))]:
            self.results.append(item | {"index": checked.event_rows[item["index"]]})
        for item in plan.errors[: max(0, REPORT_LIMIT - len(self.unknown_customers))]:
            self.unknown_customers.append(item | {"index": checked.event_rows[item["index"]]})
        for external_id in plan.unmatched_external_ids:
            if len(self.unmatched_external_ids) < REPORT_LIMIT:
                self.unmatched_external_ids[external_id] = None
        self.invalid_rows.extend(checked.invalid[: max(0, REPORT_LIMIT - len(self.invalid_rows))])
        return plan

    def report(self, capped: bool) -> dict[str, Any]:
        """The test-run report: the push report's fields plus the invalid rows."""
        return {
            "success": True,
            "mode": "test",
            "stored": False,
            "rows_read": self.rows_read,
            "capped": capped,
            "summary": {
                "total": self.rows_read,
                "matched": self.matched,
                "unmatched": self.unmatched,
                "invalid": self.invalid,
            },
            "watermark": self.watermark.isoformat().replace("+00:00", "Z") if self.watermark else None,
            "results": self.results,
            "errors": self.unknown_customers,
            "unmatched_external_ids": list(self.unmatched_external_ids),
            "invalid_rows": self.invalid_rows,
        }


# ---------------------------------------------------------------------------- the fast path
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MAX_FLOAT_INT = 2**1023  # the push validator's bound for integers taken as they are
_HOUR_US = 3_600_000_000
_dumps = orjson.dumps
# A checked row: external_customer_id, metric_key, value, timestamp, granularity, properties, event_type.
Checked = tuple[str, str, float, datetime | None, str, str, str]


@dataclass
class PagePlan:
    records: list[tuple[bytes, bytes]]  # (key, value) of every matched row, in row order (live runs)
    rows: int
    unmatched: int
    invalid: int
    written: int = field(init=False)  # len(records), kept once the records are dropped

    def __post_init__(self) -> None:
        self.written = len(self.records)


class PagePlanner:
    """Plans the pages of one run: what ``check_page`` + ``RunTally.plan`` give, faster."""

    def __init__(
        self,
        org_id: str,
        layout: Layout,
        resolve: Callable[[str, str], str | None],
        live: bool,
        received_at: datetime,
        tally: RunTally,
    ) -> None:
        self.org_id = org_id
        self.layout = layout
        self.resolve = resolve
        self.live = live
        self.received_at = received_at
        self.received_us = epoch_micros(received_at)
        self.tally = tally
        where = dict(layout.positions)
        self._external_id = where["external_customer_id"]
        self._metric_key = where["metric_key"]
        self._value = where["value"]
        self._timestamp = where.get("timestamp")
        self._granularity = where.get("granularity")
        self._properties = where.get("properties")
        self._event_type = where.get("event_type")

    def plan(self, rows: Sequence[Sequence[Any]]) -> PagePlan:
        """Checks, resolves and encodes one page and adds its findings to the tally."""
        tally = self.tally
        first_row = tally.rows_read
        checked: list[Checked] = []
        checked_rows: list[int] = []
        invalid = self._check(rows, first_row, checked, checked_rows)
        records: list[tuple[bytes, bytes]] = []
        unmatched = self._resolve(checked, checked_rows, records)
        tally.rows_read += len(rows)
        tally.unmatched += unmatched
        tally.matched += len(checked) - unmatched
        tally.invalid += invalid
        return PagePlan(records, len(rows), unmatched, invalid)

    def _check(
        self, rows: Sequence[Sequence[Any]], first_row: int, checked: list[Checked], checked_rows: list[int]
    ) -> int:
        tally = self.tally
        layout = self.layout
        fast = self._fast
        watermark = layout.watermark
        naive_latest: datetime | None = None  # offset-less watermark values are UTC: compared as they are
        latest = tally.watermark
        invalid = 0
        for number, row in enumerate(rows, first_row):
            if watermark is not None:
                moment = row[watermark]
                if type(moment) is datetime and moment.tzinfo is None:
                    if naive_latest is None or moment > naive_latest:
                        naive_latest = moment
                else:
                    moment = watermark_of(moment)
                    if moment is not None and (latest is None or moment > latest):
                        latest = moment
            event = fast(row)
            if event is None:
                valid, errors = validate_event(number, row_event(layout, row))
                if valid is None:
                    invalid += 1
                    _report_invalid(tally.invalid_rows, number, errors)
                    continue
                event = (
                    valid.external_customer_id, valid.metric_key, valid.value, valid.timestamp,
                    valid.granularity, valid.properties, valid.event_type,
                )  # fmt: skip
            checked.append(event)
            checked_rows.append(number)
        if naive_latest is not None:
            naive_utc = naive_latest.replace(tzinfo=UTC)
            if latest is None or naive_utc > latest:
                latest = naive_utc
        tally.watermark = latest
        return invalid

    def _fast(self, row: Sequence[Any]) -> Checked | None:
        """The row as the push validator would accept it, from its typed values; None when these
        checks are not enough (the validator then decides)."""
        external_id = row[self._external_id]
        metric_key = row[self._metric_key]
        value = row[self._value]
        if not (
            type(external_id) is str
            and 0 < len(external_id) <= MAX_EXTERNAL_ID_CHARS
            and type(metric_key) is str
            and 0 < len(metric_key) <= MAX_METRIC_KEY_CHARS
        ):
            return None
        kind = type(value)
        if kind is int:
            if not -_MAX_FLOAT_INT < value < _MAX_FLOAT_INT:
                return None
            value = float(value)
        elif kind is Decimal:
            value = float(value)
        elif kind is not float:
            return None
        if not math.isfinite(value):
            return None
        granularity = "daily" if self._granularity is None else row[self._granularity]
        if granularity is None:
            granularity = "daily"
        elif type(granularity) is not str or granularity not in GRANULARITIES:
            return None
        event_type = "credit" if self._event_type is None else row[self._event_type]
        if event_type is None:
            event_type = "credit"
        elif type(event_type) is not str or event_type not in EVENT_TYPES:
            return None
        properties = None if self._properties is None else row[self._properties]
        if properties is not None and not (type(properties) is str and not properties.strip()):
            return None
        timestamp = None if self._timestamp is None else row[self._timestamp]
        if timestamp is not None:
            timestamp = _utc_moment(timestamp)
            if timestamp is None or not storable_timestamp(timestamp, granularity):
                return None
        return external_id, metric_key, value, timestamp, granularity, "{}", event_type

    def _resolve(
        self, checked: list[Checked], checked_rows: list[int], records: list[tuple[bytes, bytes]]
    ) -> int:
        """Resolves the checked rows (as ``plan_push``), builds their records; returns the unmatched."""
        tally = self.tally
        org_id = self.org_id
        resolve = self.resolve
        live = self.live
        received_at = self.received_at
        received = b"%d" % self.received_us
        head = max(0, REPORT_LIMIT - len(tally.results))
        if head:
            self._report_head(checked[:head], checked_rows[:head])
        customers: dict[str, str | None] = {}
        heads: dict[tuple[str, str, str, str], tuple[bytes, bytes]] = {}
        periods: dict[tuple[str, int], bytes] = {}
        metric_keys = tally.metric_keys
        unknown = tally.unknown_customers
        unmatched_ids = tally.unmatched_external_ids
        unmatched = 0
        for index, (
            external_id,
            metric_key,
            value,
            timestamp,
            granularity,
            properties,
            event_type,
        ) in enumerate(checked):
            metric_keys.add(metric_key)
            if external_id in customers:
                customer_id = customers[external_id]
            else:
                customer_id = customers[external_id] = resolve(org_id, external_id)
            if customer_id is None:
                unmatched += 1
                if index >= head and len(unknown) < REPORT_LIMIT:
                    unknown.append(_unknown_customer(checked_rows[index], external_id))
                if len(unmatched_ids) < REPORT_LIMIT:
                    unmatched_ids[external_id] = None
                continue
            if not live:
                continue
            moment = timestamp or received_at
            created = _epoch_us(moment)
            period_key = (granularity, created // _HOUR_US)
            period = periods.get(period_key)
            if period is None:
                period = periods[period_key] = _dumps(
                    format_utc(period_start(moment, Granularity(granularity)))
                )
            head_key = (customer_id, external_id, metric_key, granularity)
            key_head, value_head = heads.get(head_key) or heads.setdefault(
                head_key, _record_heads(org_id, customer_id, external_id, metric_key, granularity)
            )
            records.append(
                (
                    key_head + period + b"]",
                    b'%s%s,"value":%s,"event_type":%s,"created_at_us":%d,"ingested_at_us":%s,"properties":%s}'
                    % (value_head, period, _dumps(value), _EVENT_TYPES[event_type], created, received,
                       _EMPTY_PROPERTIES if properties == "{}" else _dumps(properties)),
                )
            )  # fmt: skip
        return unmatched

    def _report_head(self, events: list[Checked], rows: list[int]) -> None:
        """The per-event report of the run's first valid rows, by the push path's own code."""
        plan = plan_push(
            self.org_id, [ValidEvent(*event) for event in events], self.resolve, self.live, self.received_at
        )
        tally = self.tally
        tally.results.extend(item | {"index": rows[item["index"]]} for item in plan.results)
        for item in plan.errors:
            if len(tally.unknown_customers) < REPORT_LIMIT:
                tally.unknown_customers.append(item | {"index": rows[item["index"]]})


_EMPTY_PROPERTIES = _dumps("{}")
_EVENT_TYPES = {event_type: _dumps(event_type) for event_type in EVENT_TYPES}


def _record_heads(
    org_id: str, customer_id: str, external_id: str, metric_key: str, granularity: str
) -> tuple[bytes, bytes]:
    """The bytes of a record's key and value up to its period start (``core.records``' encoding)."""
    key = replace_key_bytes(org_id, customer_id, metric_key, granularity, "")
    value = _dumps(
        {
            "v": SCHEMA_VERSION,
            "org_id": org_id,
            "customer_id": customer_id,
            "external_customer_id": external_id,
            "metric_key": metric_key,
            "granularity": granularity,
            "period_start": "",
        }
    )
    return key[: -len(b'""]')], value[: -len(b'""}')]


def _utc_moment(value: Any) -> datetime | None:
    """A timestamp column's value as the push validator reads its JSON form; None if it would not."""
    kind = type(value)
    if kind is datetime:
        # As ``as_utc``, by arithmetic: ``replace(tzinfo=...)`` and ``astimezone`` cost ~5x more.
        if value.tzinfo is None:
            return _EPOCH + (value - _NAIVE_EPOCH)
        return None if value.utcoffset() is None else _EPOCH + (value - _EPOCH)
    if kind is date:
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if kind is str:
        return parse_timestamp(value)
    return None


def _epoch_us(moment: datetime) -> int:
    """``core.periods.epoch_micros`` of an aware UTC datetime."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _unknown_customer(row: int, external_id: str) -> dict[str, Any]:
    return {
        "index": row,
        "external_customer_id": external_id,
        "code": UNKNOWN_CUSTOMER,
        "reason": UNKNOWN_CUSTOMER_REASON,
    }


def _report_invalid(report: list[dict[str, Any]], number: int, errors: list[Any]) -> None:
    for error in errors:
        if len(report) >= REPORT_LIMIT:
            return
        report.append({"row": number, "column": error.path.partition(".")[2], "reason": error.message})
