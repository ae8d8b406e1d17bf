"""The admin API router (``/admin/v1``); reference: docs/api.md.

Bodies are read with the shared edge reader (413 past ``QUIVLY_ADMIN_MAX_BODY_BYTES``) and
validated by the control plane's pure rules (exact field paths in 422 details, fast on tens of
thousands of customers); each operation runs in a worker thread because the ClickHouse client
blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from core.edge import read_json
from core.settings import AdminSettings
from ingress.admin.auth import require_admin
from ingress.admin.dead_letters import build_dead_letters_router
from ingress.control import model
from ingress.control.runtime import ControlPlane

T = TypeVar("T")


# Request models: for the OpenAPI schema only (validation is model.validate_*).
class OrgIn(BaseModel):
    name: str = Field(min_length=1, max_length=model.MAX_NAME, examples=["Acme"])


class ExternalIdIn(BaseModel):
    source: str = Field(examples=["salesforce"])
    id: str = Field(examples=["0015g00000ABC"])


class CustomerIn(BaseModel):
    customer_id: str = Field(examples=["pied-piper"])
    name: str = Field(default="", examples=["Pied Piper"])
    external_ids: list[ExternalIdIn] = []


class CustomersIn(BaseModel):
    customers: list[CustomerIn]


class ConfigurationIn(BaseModel):
    source: str = Field(default="push_api", examples=["push_api"])


class RollupIn(BaseModel):
    rollup: str = Field(examples=list(model.ROLLUPS))


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline_refs(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def _body_doc(schema: type[BaseModel], required: bool = True) -> dict[str, Any]:
    raw = schema.model_json_schema()
    inlined = _inline_refs(raw, raw.get("$defs", {}))
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": inlined}}}}


async def _run(func: Callable[..., T], *args: Any) -> T:
    return await run_in_threadpool(func, *args)


def build_admin_router(control_plane: ControlPlane, admin: AdminSettings) -> APIRouter:
    router = APIRouter(prefix="/admin/v1", tags=["admin"], dependencies=[Depends(require_admin(admin))])
    service = control_plane.service(admin)

    async def _json_body(request: Request, optional: bool = False) -> Any:
        return await read_json(request, admin.admin_max_body_bytes, optional)

    @router.post("/orgs", status_code=status.HTTP_201_CREATED, openapi_extra=_body_doc(OrgIn))
    async def create_org(request: Request) -> dict[str, Any]:
        """Creates an organization: `{"name": "Acme"}` → `{"org_id", "name"}`."""
        return await _run(service.create_org, await _json_body(request))

    @router.get("/orgs")
    async def list_orgs() -> dict[str, Any]:
        """Every organization (no secrets)."""
        return await _run(service.list_orgs)

    @router.post("/orgs/{org_id}/api-key", status_code=status.HTTP_201_CREATED)
    async def generate_key(org_id: str) -> dict[str, Any]:
        """Generates the organization's API key (shown once); any previous key stops working."""
        return await _run(service.generate_key, org_id)

    @router.put("/orgs/{org_id}/customers", openapi_extra=_body_doc(CustomersIn))
    async def upsert_customers(org_id: str, request: Request) -> dict[str, Any]:
        """Upserts customers by `customer_id`; the external IDs given replace that customer's set.

        An external ID already used by another customer of the organization is a 409 CONFLICT.
        """
        return await _run(service.upsert_customers, org_id, await _json_body(request))

    @router.get("/orgs/{org_id}/customers")
    async def list_customers(org_id: str) -> dict[str, Any]:
        """Every customer of the organization with its external IDs."""
        return await _run(service.list_customers, org_id)

    @router.delete("/orgs/{org_id}/customers/{customer_id}/external-ids/{source}/{external_id:path}")
    async def remove_external_id(
        org_id: str, customer_id: str, source: str, external_id: str
    ) -> dict[str, Any]:
        """Removes one external ID of a customer (it stops resolving on every replica within 5 s)."""
        return await _run(service.remove_external_id, org_id, customer_id, source, external_id)

    @router.post(
        "/orgs/{org_id}/configuration",
        status_code=status.HTTP_201_CREATED,
        openapi_extra=_body_doc(ConfigurationIn, required=False),
    )
    async def create_configuration(org_id: str, request: Request) -> dict[str, Any]:
        """Creates the Push API configuration (status `draft`); an existing one is returned unchanged."""
        return await _run(service.create_configuration, org_id, await _json_body(request, optional=True))

    @router.get("/orgs/{org_id}/configuration")
    async def get_configuration(org_id: str) -> dict[str, Any]:
        """The configuration with its endpoint, a ready-to-run curl example and the discovered metrics."""
        return await _run(service.get_configuration, org_id)

    @router.post("/orgs/{org_id}/configuration/publish")
    async def publish(org_id: str) -> dict[str, Any]:
        """Publishes the configuration: pushes become live (no longer verify-only)."""
        return await _run(service.publish, org_id)

    @router.get("/orgs/{org_id}/metrics")
    async def list_metrics(org_id: str) -> dict[str, Any]:
        """Metrics discovered from pushes, with their rollup (default `sum`)."""
        return await _run(service.list_metrics, org_id)

    @router.patch("/orgs/{org_id}/metrics/{metric_key}", openapi_extra=_body_doc(RollupIn))
    async def set_rollup(org_id: str, metric_key: str, request: Request) -> dict[str, Any]:
        """Sets a metric's rollup: `sum`, `max`, `min`, `avg` or `last`."""
        return await _run(service.set_rollup, org_id, metric_key, await _json_body(request))

    router.include_router(build_dead_letters_router(control_plane.clickhouse))
    return router
