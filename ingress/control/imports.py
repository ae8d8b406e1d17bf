"""Pure parsing of customer import files (CSV and JSON) into admin API bodies."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

CSV_COLUMNS = ("customer_id", "name", "source", "external_id")


class ImportFileError(ValueError):
    pass


def parse_customers_csv(text: str) -> list[dict[str, Any]]:
    """One row per external ID (``customer_id,name,source,external_id``), grouped by customer.

    A row with empty ``source`` and ``external_id`` declares a customer without external IDs.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ImportFileError(
            f"missing CSV column(s): {', '.join(missing)} (expected {','.join(CSV_COLUMNS)})"
        )
    customers: dict[str, dict[str, Any]] = {}
    for line, row in enumerate(reader, start=2):
        customer_id = (row.get("customer_id") or "").strip()
        if not customer_id:
            raise ImportFileError(f"line {line}: customer_id is empty")
        customer = customers.setdefault(
            customer_id, {"customer_id": customer_id, "name": "", "external_ids": []}
        )
        name = (row.get("name") or "").strip()
        if name and not customer["name"]:
            customer["name"] = name
        source = (row.get("source") or "").strip()
        external_id = (row.get("external_id") or "").strip()
        if source or external_id:
            if not (source and external_id):
                raise ImportFileError(f"line {line}: source and external_id go together")
            customer["external_ids"].append({"source": source, "id": external_id})
    return list(customers.values())


def parse_customers_json(text: str) -> list[dict[str, Any]]:
    """Either ``{"customers": [...]}`` (the API body) or a bare list of customers."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(f"malformed JSON: {exc}") from None
    if isinstance(data, dict):
        data = data.get("customers")
    if not isinstance(data, list):
        raise ImportFileError('expected {"customers": [...]} or a list of customers')
    return data


def parse_customers_file(name: str, text: str, file_format: str = "auto") -> list[dict[str, Any]]:
    if file_format == "auto":
        file_format = "json" if name.lower().endswith(".json") or text.lstrip()[:1] in "[{" else "csv"
    if file_format == "json":
        return parse_customers_json(text)
    if file_format == "csv":
        return parse_customers_csv(text)
    raise ImportFileError(f"unknown format {file_format!r} (csv, json or auto)")


def chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
