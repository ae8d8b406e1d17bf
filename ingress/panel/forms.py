"""Form validation, CSV parsing and small view helpers of the panel (pure: no web framework)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SOURCES = {"push_api": "Push API"}
ROLLUPS = ("sum", "max", "min", "avg", "last")
CSV_COLUMNS = ("customer_id", "name", "source", "external_id")
MAX_CSV_BYTES = 2 * 1024 * 1024
MAX_NAME = 200
MAX_ID = 255

FieldErrors = dict[str, str]


def validate_org_name(raw: str | None) -> tuple[str, FieldErrors]:
    name = (raw or "").strip()
    if not name:
        return name, {"name": "Enter a name for the organization."}
    if len(name) > MAX_NAME:
        return name, {"name": f"Use at most {MAX_NAME} characters."}
    return name, {}


def validate_source(raw: str | None) -> tuple[str, FieldErrors]:
    source = (raw or "").strip()
    if source not in SOURCES:
        return source, {"source": "Choose a data source."}
    return source, {}


def validate_rollup(raw: str | None) -> tuple[str, FieldErrors]:
    rollup = (raw or "").strip()
    if rollup not in ROLLUPS:
        return rollup, {"rollup": f"Choose one of: {', '.join(ROLLUPS)}."}
    return rollup, {}


def validate_publish_confirmation(raw: str | None) -> FieldErrors:
    if raw != "yes":
        return {"confirm": "Tick the box to confirm that the test call looked right."}
    return {}


@dataclass
class CsvResult:
    """The customers found in an uploaded CSV, grouped by ``customer_id``, and what was skipped."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0
    external_ids: int = 0
    row_errors: list[tuple[int, str]] = field(default_factory=list)
    file_error: str | None = None


def parse_customers_csv(data: bytes) -> CsvResult:
    """Parses ``customer_id,name,source,external_id`` rows (header required, any column order)."""
    if not data.strip():
        return CsvResult(file_error="Choose a CSV file with at least one row.")
    if len(data) > MAX_CSV_BYTES:
        return CsvResult(file_error=f"The file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return CsvResult(file_error="The file is not UTF-8 text.")
    reader = csv.DictReader(io.StringIO(text))
    header = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
    missing = [column for column in CSV_COLUMNS if column not in header]
    if missing:
        return CsvResult(
            file_error=f"Missing column(s): {', '.join(missing)}. Expected header: {','.join(CSV_COLUMNS)}."
        )
    reader.fieldnames = header
    return _group_rows(reader)


def _group_rows(reader: csv.DictReader[str]) -> CsvResult:
    result = CsvResult()
    by_id: dict[str, dict[str, Any]] = {}
    seen: dict[str, str] = {}
    for row in reader:
        line = reader.line_num
        values = {column: (row.get(column) or "").strip() for column in CSV_COLUMNS}
        if not any(values.values()):
            continue
        result.rows += 1
        error = _row_error(values, seen)
        if error:
            result.row_errors.append((line, error))
            continue
        customer = by_id.setdefault(
            values["customer_id"],
            {"customer_id": values["customer_id"], "name": values["name"], "external_ids": []},
        )
        customer["name"] = customer["name"] or values["name"]
        if values["external_id"]:
            seen[values["external_id"]] = values["customer_id"]
            customer["external_ids"].append({"source": values["source"], "id": values["external_id"]})
            result.external_ids += 1
    for customer in by_id.values():
        customer["name"] = customer["name"] or customer["customer_id"]
    result.customers = list(by_id.values())
    if not result.rows:
        result.file_error = "The file has a header but no rows."
    return result


def _row_error(values: dict[str, str], seen: dict[str, str]) -> str | None:
    customer_id, external_id = values["customer_id"], values["external_id"]
    if not customer_id:
        return "customer_id is empty"
    if len(customer_id) > MAX_ID or len(external_id) > MAX_ID:
        return f"customer_id and external_id take at most {MAX_ID} characters"
    if external_id and not values["source"]:
        return "source is empty (e.g. salesforce, hubspot)"
    if external_id in seen and seen[external_id] != customer_id:
        return f"external_id {external_id} is already used by {seen[external_id]} in this file"
    return None


def filter_customers(customers: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    """Customers whose ID, name, or any external ID/source contains ``query`` (case-insensitive)."""
    needle = query.strip().lower()
    if not needle:
        return customers
    return [customer for customer in customers if needle in _haystack(customer)]


def _haystack(customer: dict[str, Any]) -> str:
    parts = [str(customer.get("customer_id", "")), str(customer.get("name", ""))]
    for external in customer.get("external_ids") or []:
        parts += [str(external.get("source", "")), str(external.get("id", ""))]
    return "\n".join(parts).lower()


_PLACEHOLDER = re.compile(r"<[A-Za-z_ -]*(?:KEY|key)[A-Za-z_ -]*>|\$\{?[A-Z_]*API_KEY\}?|YOUR_API_KEY")


def curl_with_key(curl: str, api_key: str | None) -> str:
    """The curl example with ``api_key`` filled in (the admin API normally did it already)."""
    if not api_key or api_key in curl:
        return curl
    return _PLACEHOLDER.sub(api_key, curl, count=1)


def api_error_fields(body: Any, known: tuple[str, ...]) -> tuple[FieldErrors, str | None]:
    """Maps an admin API error body to errors next to form fields, plus a general message."""
    if not isinstance(body, dict):
        return {}, "The admin API gave an unexpected answer."
    message = str(body.get("error") or "The request failed.")
    fields: FieldErrors = {}
    details = body.get("details")
    if isinstance(details, list):
        for item in details:
            if not isinstance(item, dict):
                continue
            path = str(item.get("path", "")).split(".")[-1].split("[")[0]
            if path in known:
                fields.setdefault(path, str(item.get("message") or message))
    return fields, (None if fields else message)


def normalize_push_call(raw: dict[str, Any]) -> dict[str, Any]:
    """One recent push call as the verification view shows it, whatever optional fields it has."""
    raw_summary = raw.get("summary")
    summary: dict[str, Any] = raw_summary if isinstance(raw_summary, dict) else {}
    unmatched_ids = (
        raw.get("unmatched_external_ids")
        or raw.get("unmatched_ids")
        or raw.get("unmatched_external_customer_ids")
    )
    at = raw.get("at") or raw.get("received_at") or raw.get("created_at") or raw.get("timestamp") or ""
    mode = str(raw.get("mode") or "")
    return {
        "at": str(at),
        "mode": mode,
        "mode_label": {"test": "verify-only", "live": "live"}.get(mode, mode or "unknown"),
        "status_code": raw.get("status_code") or raw.get("status"),
        "error_code": raw.get("error_code"),
        "total": summary.get("total", 0),
        "matched": summary.get("matched", 0),
        "unmatched": summary.get("unmatched", 0),
        "inserted": raw.get("inserted"),
        "unmatched_ids": [str(external_id) for external_id in (unmatched_ids or [])],
    }


def format_time(value: Any) -> str:
    """``2026-06-11T09:30:00.123Z`` → ``2026-06-11 09:30:00 UTC``; anything else unchanged, empty → a dash."""
    if not value:
        return "\u2013"
    text = str(value)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")


def has_key_placeholder(curl: str) -> bool:
    return bool(_PLACEHOLDER.search(curl))
