"""A usage query's answer as a flat table: one row per series and window (CLI, panel, CSV)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import orjson

COLUMNS = ("metric_key", "customer_id", "properties", "rollup", "start", "end", "value", "periods")


def usage_rows(answer: dict[str, Any]) -> list[tuple[str, ...]]:
    """The windows of every series of a ``POST /v1/usage/query`` answer, in its order, as text
    (``customer_id`` empty when not grouped by customer; ``properties`` as compact JSON)."""
    rows: list[tuple[str, ...]] = []
    for series in answer.get("series", []):
        properties = series.get("properties")
        shown = orjson.dumps(properties).decode() if properties is not None else ""
        for window in series.get("windows", []):
            rows.append(
                (
                    str(series.get("metric_key", "")),
                    str(series.get("customer_id", "")),
                    shown,
                    str(series.get("rollup", "")),
                    str(window.get("start", "")),
                    str(window.get("end", "")),
                    str(window.get("value", "")),
                    str(window.get("periods", "")),
                )
            )
    return rows


def csv_text(rows: Sequence[Sequence[str]]) -> str:
    """RFC 4180 CSV with a header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue()
