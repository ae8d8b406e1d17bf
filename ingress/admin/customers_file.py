"""Customer import files (CSV or JSON) → the customers of an admin API upsert body.

Pure; shared by ``quivly admin import-customers`` and the panel's upload, so both read a file the
same way:

* CSV: a header naming ``customer_id,name,source,external_id`` in any order (names are trimmed,
  any case), then one row per external ID; a row without ``source`` and ``external_id`` declares a
  customer without external IDs; rows of one ``customer_id`` are grouped (the first non-empty
  name wins); blank rows are skipped. Each bad row is reported with its line number.
* JSON: the API body ``{"customers": [...]}`` or a bare list of customers, passed on as it is
  (the admin API validates it).
* Bounds are the API's (``ingress.control.model``): names 255 characters, IDs 255, sources 64.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ingress.control.model import MAX_CUSTOMER_ID, MAX_EXTERNAL_ID, MAX_NAME, MAX_SOURCE

CSV_COLUMNS = ("customer_id", "name", "source", "external_id")
FORMATS = ("auto", "csv", "json")


class CustomersFileError(ValueError):
    """The file as a whole cannot be read (empty, not UTF-8, no header, malformed JSON...)."""


@dataclass
class CustomersFile:
    """The customers found in a file, and the rows that could not be used (line, problem)."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0
    external_ids: int = 0
    row_errors: list[tuple[int, str]] = field(default_factory=list)


def parse_customers_file(data: bytes | str, name: str = "", file_format: str = "auto") -> CustomersFile:
    """Reads a CSV or JSON customer file; ``auto`` picks JSON for ``*.json`` or text opening with
    ``[``/``{``, CSV otherwise. Raises ``CustomersFileError`` when nothing can be read."""
    if file_format not in FORMATS:
        raise CustomersFileError(f"Unknown format {file_format!r} (csv, json or auto).")
    text = _text(data)
    if not text.strip():
        raise CustomersFileError("The file is empty.")
    if file_format == "auto":
        is_json = name.lower().endswith(".json") or text.lstrip()[:1] in ("[", "{")
        file_format = "json" if is_json else "csv"
    return _parse_json(text) if file_format == "json" else _parse_csv(text)


def chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _text(data: bytes | str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CustomersFileError("The file is not UTF-8 text.") from None


def _parse_json(text: str) -> CustomersFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CustomersFileError(f"Malformed JSON: {exc}") from None
    if isinstance(data, dict):
        data = data.get("customers")
    if not isinstance(data, list):
        raise CustomersFileError('Expected {"customers": [...]} or a list of customers.')
    external_ids = sum(
        len(item["external_ids"])
        for item in data
        if isinstance(item, dict) and isinstance(item.get("external_ids"), list)
    )
    return CustomersFile(customers=data, rows=len(data), external_ids=external_ids)


def _parse_csv(text: str) -> CustomersFile:
    reader = csv.DictReader(io.StringIO(text))
    header = [(column or "").strip().lower() for column in (reader.fieldnames or [])]
    missing = [column for column in CSV_COLUMNS if column not in header]
    if missing:
        raise CustomersFileError(
            f"Missing column(s): {', '.join(missing)}. Expected header: {','.join(CSV_COLUMNS)}."
        )
    reader.fieldnames = header
    result = _group_rows(reader)
    if not result.rows:
        raise CustomersFileError("The file has a header but no rows.")
    return result


def _group_rows(reader: csv.DictReader[str]) -> CustomersFile:
    result = CustomersFile()
    by_id: dict[str, dict[str, Any]] = {}
    owner_of: dict[str, str] = {}
    for row in reader:
        values = {column: (row.get(column) or "").strip() for column in CSV_COLUMNS}
        if not any(values.values()):
            continue
        result.rows += 1
        error = _row_error(values, owner_of)
        if error:
            result.row_errors.append((reader.line_num, error))
            continue
        customer = by_id.setdefault(
            values["customer_id"], {"customer_id": values["customer_id"], "name": "", "external_ids": []}
        )
        customer["name"] = customer["name"] or values["name"]
        if values["external_id"]:
            owner_of[values["external_id"]] = values["customer_id"]
            customer["external_ids"].append({"source": values["source"], "id": values["external_id"]})
            result.external_ids += 1
    result.customers = list(by_id.values())
    return result


def _row_error(values: dict[str, str], owner_of: dict[str, str]) -> str | None:
    customer_id, name, source, external_id = (values[column] for column in CSV_COLUMNS)
    if not customer_id:
        return "customer_id is empty"
    if len(customer_id) > MAX_CUSTOMER_ID or len(external_id) > MAX_EXTERNAL_ID:
        return f"customer_id and external_id take at most {MAX_CUSTOMER_ID} characters"
    if len(name) > MAX_NAME:
        return f"name takes at most {MAX_NAME} characters"
    if len(source) > MAX_SOURCE:
        return f"source takes at most {MAX_SOURCE} characters"
    if bool(source) != bool(external_id):
        return "source and external_id go together (e.g. salesforce,0015g00000ABC)"
    if owner_of.get(external_id, customer_id) != customer_id:
        return f"external_id {external_id} is already used by {owner_of[external_id]} in this file"
    return None
