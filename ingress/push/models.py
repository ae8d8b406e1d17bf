"""Pydantic models that document the push API in the OpenAPI schema.

The route validates with the hand-written validator (``validation.py``, faster); these models
describe the same request and responses for clients and fuzzers.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class UsageEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    external_customer_id: str = Field(min_length=1, max_length=255, examples=["0015g00000ABC"])
    metric_key: str = Field(min_length=1, max_length=128, examples=["api_calls"])
    value: float = Field(
        description="Finite number, stored as a 64-bit float (no NaN/Infinity; booleans and strings "
        "are rejected)"
    )
    timestamp: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="ISO 8601 date-time; offset-less values are UTC; default: time of ingestion. "
        "Accepted range (what storage holds): 1970-01-01T00:00:00Z to 2106-02-07T06:28:15Z, "
        "weekly values from 1970-01-05T00:00:00Z (the first week starting in 1970).",
    )
    granularity: Literal["hourly", "daily", "weekly", "monthly"] | None = "daily"
    properties: dict[str, Any] | None = Field(
        default=None,
        description="Free-form JSON object, at most 4096 bytes as compact UTF-8 JSON, nested at most "
        "64 levels (the object itself is level 1); integers between -2^63 and 2^64-1 (larger ones "
        "would not read back exactly: send them as strings). Read back exactly as sent.",
    )
    event_type: Literal["credit", "debit"] | None = "credit"


class PushRequest(BaseModel):
    events: list[UsageEvent] = Field(min_length=1, max_length=1000)


class Summary(BaseModel):
    total: int
    matched: int
    unmatched: int


class EventResult(BaseModel):
    index: int
    event_id: str | None = Field(default=None, description="Present for matched events")
    external_customer_id: str
    customer_id: str | None = Field(default=None, description="Present for matched events")
    metric_key: str
    granularity: str | None = None
    period_start: str | None = Field(default=None, description="RFC 3339 UTC, present for matched events")
    matched: bool
    written: bool


class EventError(BaseModel):
    index: int
    external_customer_id: str
    code: Literal["UNKNOWN_CUSTOMER"]
    reason: str


class PushReport(BaseModel):
    success: bool
    mode: Literal["live", "test"]
    stored: bool
    inserted: int
    summary: Summary
    results: list[EventResult] = Field(description="The first 100 events of the request, in order")
    errors: list[EventError] = Field(description="The first 100 dropped events")


class FieldProblem(BaseModel):
    path: str = Field(examples=["events[3].value"])
    message: str


class ErrorBody(BaseModel):
    success: Literal[False]
    error: str
    code: str
    details: Any = None


class ValidationErrorBody(ErrorBody):
    details: Any = Field(
        default=None,
        description="VALIDATION_ERROR: list of {path, message}; NO_EVENTS_INGESTED: the full report",
    )


def error_response(
    description: str, model: type[BaseModel] = ErrorBody, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {"model": model, "description": description}
    if headers:
        response["headers"] = {
            name: {"description": text, "schema": {"type": "integer"}} for name, text in headers.items()
        }
    return response


PUSH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": PushReport,
        "description": "The per-event report (also for verify-only calls in which nothing matched)",
        "headers": {
            "Idempotency-Replayed": {
                "description": "true when this is the stored response of an earlier request",
                "schema": {"type": "string"},
            }
        },
    },
    401: error_response("UNAUTHORIZED: missing or invalid API key"),
    409: error_response("IDEMPOTENCY_KEY_IN_USE: the first request with this key is still in flight"),
    413: error_response("PAYLOAD_TOO_LARGE: body over the limit (8 MiB by default)"),
    422: error_response(
        "VALIDATION_ERROR, NO_EVENTS_INGESTED or IDEMPOTENCY_KEY_REUSED", ValidationErrorBody
    ),
    429: error_response("RATE_LIMITED: Too many requests", headers={"Retry-After": "whole seconds to wait"}),
    503: error_response(
        "UNAVAILABLE: the event log did not acknowledge every event within the produce timeout. "
        'details.outcome = "not_stored": no record of the request left ingress, nothing of it '
        'will be stored; "unknown": some or all events may still be stored (later). Either way '
        "retrying the same request is safe: a write replaces the value of its key",
        headers={"Retry-After": "seconds"},
    ),
}
