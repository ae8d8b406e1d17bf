"""Form validation and small view helpers of the panel (pure: no web framework)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from ingress.admin.customers_file import CustomersFile, CustomersFileError, parse_customers_file
from ingress.control.model import MAX_NAME, ROLLUPS

SOURCES = {"push_api": "Push API"}
MAX_UPLOAD_BYTES = 2 * 1024 * 1024

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


def parse_upload(data: bytes, filename: str) -> tuple[CustomersFile | None, str | None]:
    """The customers of an uploaded CSV or JSON file, or the message saying why none can be read."""
    if len(data) > MAX_UPLOAD_BYTES:
        return None, f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB."
    try:
        return parse_customers_file(data, filename), None
    except CustomersFileError as exc:
        return None, str(exc)


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
