"""``GET /v1/events/{event_id}`` and ``POST /v1/events/search`` (reference: docs/api.md)."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from core.edge import read_body
from core.errors import validation_failed
from query.deps import OrgDep, ServicesDep, not_found, parse_event_id
from query.search import SearchValidationError, parse_search_body

router = APIRouter(prefix="/v1/events", tags=["events"])

_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event_id": {"type": "string", "format": "uuid"},
        "customer_id": {"type": "string"},
        "external_customer_id": {"type": "string"},
        "event_code": {"type": "string", "description": "The metric key"},
        "event_type": {"type": "string", "enum": ["credit", "debit"]},
        "value": {"type": "number"},
        "granularity": {"type": "string", "enum": ["hourly", "daily", "weekly", "monthly"]},
        "period_start": {"type": "string", "format": "date-time"},
        "created_at": {"type": "string", "format": "date-time"},
        "event_properties": {"type": "object"},
    },
}
_SEARCH_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "customer_id": {"type": "string", "maxLength": 255},
        "external_customer_id": {"type": "string", "maxLength": 255},
        "event_code": {"type": "string", "maxLength": 128},
        "event_type": {"type": "string", "enum": ["credit", "debit"]},
        "created_at_from": {"type": "string", "format": "date-time", "description": "inclusive"},
        "created_at_to": {"type": "string", "format": "date-time", "description": "inclusive"},
        "event_property_filters": {
            "type": "object",
            "description": 'property name -> JSON value; type-sensitive equality (200 does not match "200")',
        },
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
        "offset": {"type": "integer", "minimum": 0, "default": 0},
    },
}


def _json(payload: Any) -> Response:
    try:
        body = orjson.dumps(payload)
    except TypeError:
        # Rows written before ingress bounded properties (deeper than orjson writes): the standard
        # library writes any depth Python parsed, slower but rare.
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, media_type="application/json")


@router.get(
    "/{event_id}",
    summary="Fetch one stored event (its current value)",
    responses={200: {"content": {"application/json": {"schema": _EVENT_SCHEMA}}}},
)
async def get_event(event_id: str, org_id: OrgDep, services: ServicesDep) -> Response:
    canonical_id = parse_event_id(event_id)
    event = await run_in_threadpool(services.store().fetch, org_id, canonical_id)
    if event is None:
        raise not_found()
    return _json(event)


@router.post(
    "/search",
    summary="List stored events, ordered by created_at then event_id",
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": _SEARCH_BODY_SCHEMA}}}},
)
async def search_events(request: Request, org_id: OrgDep, services: ServicesDep) -> Response:
    raw = await read_body(request, services.settings.max_body_bytes)
    try:
        search = parse_search_body(raw)
    except SearchValidationError as exc:
        raise validation_failed(exc.details) from None
    page = await run_in_threadpool(services.store().search, org_id, search)
    return _json({"events": page.events, "total": page.total, "limit": search.limit, "offset": search.offset})
