"""``POST /v1/usage/query``: usage rolled up over windows (the model and SQL: ``core.usage_rollup``)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from core.edge import read_body
from core.errors import ApiError
from core.usage_rollup import (
    MAX_BODY_BYTES,
    UsageQuery,
    UsageResult,
    UsageValidationError,
    parse_usage_body,
    run_usage_query,
)
from query.deps import OrgDep, Services, ServicesDep
from query.usage_schema import USAGE_QUERY_BODY_SCHEMA, USAGE_QUERY_RESPONSES

router = APIRouter(prefix="/v1/usage", tags=["usage"])


@router.post(
    "/query",
    summary="Usage rolled up over windows, per metric (and customer, properties)",
    description=(
        "The organization's stored values (replacements applied) of one granularity whose period "
        "starts in [from, to), rolled up per window with each metric's rollup (configured in the admin "
        "API, default sum; `rollup` overrides it). Series are ordered by metric_key, customer_id, then "
        "the grouped properties, and paged with limit/offset."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": USAGE_QUERY_BODY_SCHEMA}},
        }
    },
    responses=USAGE_QUERY_RESPONSES,
)
async def query_usage(request: Request, org_id: OrgDep, services: ServicesDep) -> Response:
    raw = await read_body(request, MAX_BODY_BYTES)
    try:
        query = parse_usage_body(raw)
        result = await run_in_threadpool(_answer, services, org_id, query)
    except UsageValidationError as exc:
        raise ApiError(422, "VALIDATION_ERROR", "Request validation failed", exc.details) from None
    return Response(orjson.dumps(result.to_json()), media_type="application/json")


def _answer(services: Services, org_id: str, query: UsageQuery) -> UsageResult:
    client = services.client()

    def run(statement: Any) -> list[Any]:
        return list(client.query(statement.sql, parameters=statement.parameters).result_rows)

    return run_usage_query(org_id, query, run, contexts=services.usage_contexts)
