"""Form validation and small view helpers of the panel (pure: no web framework)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ingress.admin.customers_file import CustomersFile, CustomersFileError, parse_customers_file
from ingress.control.model import KEY_PLACEHOLDER, MAX_NAME, ROLLUPS

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


def curl_with_key(curl: str, api_key: str | None) -> str:
    """The curl example with ``api_key`` in place of the admin API's placeholder."""
    if not api_key:
        return curl
    return curl.replace(KEY_PLACEHOLDER, api_key, 1)


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


def push_call_view(call: dict[str, Any]) -> dict[str, Any]:
    """One recent push call (as ``GET /admin/v1/orgs/{org}/push-calls`` lists it) for the
    verification view."""
    summary = call["summary"]
    return {
        "at": call["received_at"],
        "mode": call["mode"],
        "mode_label": {"test": "verify-only", "live": "live"}.get(call["mode"], call["mode"]),
        "status_code": call["status_code"],
        "error_code": call["error_code"],
        "total": summary["total"],
        "matched": summary["matched"],
        "unmatched": summary["unmatched"],
        "inserted": call["inserted"],
        "unmatched_ids": call["unmatched_external_ids"],
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
    return KEY_PLACEHOLDER in curl
