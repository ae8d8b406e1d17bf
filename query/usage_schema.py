"""OpenAPI description of ``POST /v1/usage/query``: the request, the response and every error."""

from __future__ import annotations

from typing import Any

from core.usage_rollup import (
    DEFAULT_LIMIT,
    MAX_CUSTOMERS,
    MAX_GROUP_PROPERTIES,
    MAX_ID_LENGTH,
    MAX_LIMIT,
    MAX_METRIC_KEY_LENGTH,
    MAX_METRIC_KEYS,
    MAX_WINDOWS_PER_PAGE,
    Rollup,
    WindowSize,
)

_GRANULARITIES = ["hourly", "daily", "weekly", "monthly"]
_ROLLUPS = [rollup.value for rollup in Rollup]


def _strings(max_items: int, max_length: int, description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "minItems": 1,
        "maxItems": max_items,
        "items": {"type": "string", "minLength": 1, "maxLength": max_length},
        "description": description,
    }


USAGE_QUERY_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["from", "to"],
    "properties": {
        "from": {
            "type": "string",
            "format": "date-time",
            "description": "Values whose period_start is in [from, to) are rolled up (RFC 3339).",
        },
        "to": {"type": "string", "format": "date-time", "description": "Exclusive; must be after from."},
        "granularity": {
            "type": "string",
            "enum": _GRANULARITIES,
            "default": "daily",
            "description": "Which stored values to roll up.",
        },
        "window_size": {
            "type": "string",
            "enum": [size.value for size in WindowSize],
            "default": "month",
            "description": "Never finer than granularity. `all` is one window covering [from, to). "
            "A stored value belongs to the window containing its period_start (a week by its Monday).",
        },
        "timezone": {
            "type": "string",
            "default": "UTC",
            "description": "IANA name; window boundaries are local midnights / Mondays / month starts of "
            "that zone. Other than UTC only with hourly values.",
        },
        "metric_keys": _strings(MAX_METRIC_KEYS, MAX_METRIC_KEY_LENGTH, "Default: every metric."),
        "customer_ids": _strings(MAX_CUSTOMERS, MAX_ID_LENGTH, "Resolved customer IDs."),
        "external_customer_ids": _strings(
            MAX_CUSTOMERS,
            MAX_ID_LENGTH,
            "External IDs, each resolved to its customer (added to customer_ids); unknown ones are "
            "listed in unresolved_external_customer_ids.",
        ),
        "group_by": {
            "type": "array",
            "items": {"type": "string", "pattern": "^(customer|property:.+)$"},
            "default": ["customer"],
            "description": f'"customer" and up to {MAX_GROUP_PROPERTIES} "property:<name>" items. Without '
            "\"customer\", a window's value is the sum over customers of each customer's rolled-up value.",
        },
        "rollup": {
            "type": "string",
            "enum": _ROLLUPS,
            "description": "Overrides the metrics' configured rollups for this query.",
        },
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        "offset": {"type": "integer", "minimum": 0, "default": 0},
    },
    "example": {
        "from": "2026-01-01T00:00:00Z",
        "to": "2027-01-01T00:00:00Z",
        "granularity": "daily",
        "window_size": "month",
        "metric_keys": ["api_calls"],
        "external_customer_ids": ["0015g00000ABC"],
    },
}

_WINDOW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["start", "end", "value", "periods"],
    "properties": {
        "start": {"type": "string", "format": "date-time", "description": "Full calendar bound (UTC, Z)"},
        "end": {"type": "string", "format": "date-time"},
        "value": {"type": "number"},
        "periods": {"type": "integer", "description": "How many stored values were rolled up"},
    },
}
_SERIES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["metric_key", "rollup", "windows"],
    "properties": {
        "metric_key": {"type": "string"},
        "customer_id": {"type": "string", "description": "Only when grouped by customer"},
        "properties": {
            "type": "object",
            "description": "Only when grouped by properties: name -> JSON value (null where absent)",
        },
        "rollup": {"type": "string", "enum": _ROLLUPS},
        "windows": {
            "type": "array",
            "items": _WINDOW_SCHEMA,
            "description": "Ascending by start; windows without stored values are left out",
        },
    },
}
USAGE_QUERY_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "from": {"type": "string", "format": "date-time"},
        "to": {"type": "string", "format": "date-time"},
        "granularity": {"type": "string", "enum": _GRANULARITIES},
        "window_size": {"type": "string", "enum": [size.value for size in WindowSize]},
        "timezone": {"type": "string"},
        "series": {
            "type": "array",
            "items": _SERIES_SCHEMA,
            "description": "Ordered by metric_key, customer_id, then the grouped properties",
        },
        "total_series": {"type": "integer"},
        "limit": {"type": "integer"},
        "offset": {"type": "integer"},
        "unresolved_external_customer_ids": {"type": "array", "items": {"type": "string"}},
    },
}


def _error(code: str, description: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["success", "error", "code"],
        "properties": {
            "success": {"type": "boolean", "enum": [False]},
            "error": {"type": "string"},
            "code": {"type": "string", "enum": [code]},
            **({"details": details} if details else {}),
        },
    }
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}

USAGE_QUERY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The page of series",
        "content": {"application/json": {"schema": USAGE_QUERY_RESPONSE_SCHEMA}},
    },
    401: _error("UNAUTHORIZED", "Missing, malformed, unknown or rotated-away API key"),
    413: _error("PAYLOAD_TOO_LARGE", "The body is larger than 8 MiB"),
    422: _error(
        "VALIDATION_ERROR",
        "A field is invalid (one entry per failing field: from, to, window_size, timezone, "
        f"metric_keys[2], group_by[1]…; `body` for a body that is not a JSON object), or the page "
        f"would hold more than {MAX_WINDOWS_PER_PAGE} windows (on window_size)",
        {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    ),
    503: {
        **_error("UNAVAILABLE", "ClickHouse is unreachable; retry after Retry-After"),
        "headers": _RETRY_AFTER,
    },
}
