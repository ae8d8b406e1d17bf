"""Warehouse rows to usage events, under the push path's rules, and the tally of a run (pure logic).

A page of rows (column names + tuples, as every client returns them) becomes push-shaped events:
warehouse types are turned into their JSON form (timestamps to ISO 8601, decimals to numbers,
JSON text to objects), then each row is validated by ``ingress.push.validation`` and resolved
and keyed by ``ingress.push.report.plan_push``: the same rules, report and replace key as a push.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from ingress.push.report import REPORT_LIMIT, PushPlan, plan_push
from ingress.push.validation import ValidEvent, parse_timestamp, validate_event

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
