"""Admin API of warehouse sources (``/admin/v1/orgs/{org_id}/sources``), in the style of the rest.

Bodies are validated by ``ingress.warehouse.model`` (exact field paths in 422 details).
Credentials are write-only: every response shows a credential that is set as ``********``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from core.edge import read_json
from core.settings import AdminSettings
from ingress.admin.auth import require_admin
from ingress.warehouse import model
from ingress.warehouse.runtime import WarehouseRuntime


class ScheduleIn(BaseModel):
    interval_s: int = Field(default=model.DEFAULT_INTERVAL_S, examples=[3600])


class IncrementalIn(BaseModel):
    column: str = Field(examples=["updated_at"], description="Watermark column returned by the query")
    lookback_s: int = Field(
        default=model.DEFAULT_LOOKBACK_S, description="Re-read window before the watermark"
    )


class SourceIn(BaseModel):
    name: str = Field(default="", examples=["Usage from ClickHouse"])
    kind: Literal["clickhouse", "snowflake", "bigquery"]
    connection: dict[str, Any] = Field(
        examples=[{"url": "https://ch.example.com:8443", "database": "analytics", "username": "reader",
                   "password": "…"}],
        description="clickhouse: url, database, username, password. snowflake: account, user, password "
        "or private_key (PEM), warehouse, database, schema, role. bigquery: project, "
        "service_account_json, location. Credentials are write-only (shown as ********).",
    )  # fmt: skip
    query: str = Field(
        examples=[
            "SELECT customer AS external_customer_id, metric AS metric_key, value, ts AS timestamp, "
            "updated_at FROM usage WHERE updated_at > {since:DateTime64(6, 'UTC')}"
        ]
    )
    schedule: ScheduleIn | None = None
    incremental: IncrementalIn | None = None


def _body_doc(schema: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema.model_json_schema()}},
        }
    }


def build_sources_router(warehouse: WarehouseRuntime, admin: AdminSettings) -> APIRouter:
    router = APIRouter(
        prefix="/admin/v1/orgs/{org_id}/sources", tags=["admin: warehouse sources"],
        dependencies=[Depends(require_admin(admin))],
    )  # fmt: skip
    service = warehouse.service

    async def _json_body(request: Request) -> Any:
        return await read_json(request, admin.admin_max_body_bytes)

    @router.post("", status_code=status.HTTP_201_CREATED, openapi_extra=_body_doc(SourceIn))
    async def create_source(org_id: str, request: Request) -> dict[str, Any]:
        """Creates a warehouse source (status `draft`: test runs only). Credentials are encrypted."""
        return await run_in_threadpool(service.create, org_id, await _json_body(request))

    @router.get("")
    async def list_sources(org_id: str) -> dict[str, Any]:
        """The organization's warehouse sources (credentials masked)."""
        return await run_in_threadpool(service.list, org_id)

    @router.get("/{source_id}")
    async def get_source(org_id: str, source_id: str) -> dict[str, Any]:
        """One source (credentials masked)."""
        return await run_in_threadpool(service.get, org_id, source_id)

    @router.patch("/{source_id}", openapi_extra=_body_doc(SourceIn))
    async def update_source(org_id: str, source_id: str, request: Request) -> dict[str, Any]:
        """Updates the given fields; credentials absent or sent as `********` keep their value."""
        return await run_in_threadpool(service.update, org_id, source_id, await _json_body(request))

    @router.post("/{source_id}/test-run")
    async def test_run(org_id: str, source_id: str) -> dict[str, Any]:
        """Runs the query (capped rows), validates and resolves every row; stores nothing.

        The report is the push report plus `invalid_rows` (`row`, `column`, `reason`). A query the
        warehouse rejects is 422 QUERY_FAILED; an unreachable warehouse 503 WAREHOUSE_UNAVAILABLE.
        """
        return await service.test_run(org_id, source_id)

    @router.post("/{source_id}/publish")
    async def publish_source(org_id: str, source_id: str) -> dict[str, Any]:
        """Publishes (or resumes) the source: scheduled runs store their rows from now on."""
        return await run_in_threadpool(service.publish, org_id, source_id)

    @router.post("/{source_id}/pause")
    async def pause_source(org_id: str, source_id: str) -> dict[str, Any]:
        """Pauses scheduled runs (a run in progress finishes)."""
        return await run_in_threadpool(service.pause, org_id, source_id)

    @router.get("/{source_id}/runs")
    async def list_runs(org_id: str, source_id: str, limit: int = 50) -> dict[str, Any]:
        """The newest runs first: times, rows read/written/unmatched/invalid, watermark, error."""
        return await run_in_threadpool(service.runs, org_id, source_id, max(1, min(limit, 500)))

    return router
