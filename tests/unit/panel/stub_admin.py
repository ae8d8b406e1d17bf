"""An in-memory stand-in for the admin JSON API (docs/api.md), for the panel's page tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from core.settings import AdminSettings
from ingress.panel.router import build_panel_router

PLACEHOLDER = "<YOUR_API_KEY>"


@dataclass
class StubState:
    orgs: dict[str, str] = field(default_factory=dict)
    configurations: dict[str, dict[str, Any]] = field(default_factory=dict)
    customers: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    metrics: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    calls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    fresh_key: dict[str, str] = field(default_factory=dict)
    broken: bool = False


def _error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"success": False, "error": message, "code": code}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status)


def build_stub_admin(state: StubState, token: str) -> APIRouter:
    router = APIRouter(prefix="/admin/v1")

    def authorized(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {token}"

    def configuration(org_id: str) -> dict[str, Any]:
        config = state.configurations[org_id]
        key = state.fresh_key.pop(org_id, PLACEHOLDER)
        curl = f"curl -X POST http://127.0.0.1/v1/usage/events -H 'Authorization: Bearer {key}' -d '{{}}'"
        return {**config, "endpoint": "http://127.0.0.1/v1/usage/events", "curl_example": curl, "metrics": []}

    @router.get("/orgs")
    async def list_orgs(request: Request) -> Any:
        if not authorized(request):
            return _error(401, "UNAUTHORIZED", "Invalid or missing API key")
        if state.broken:
            return JSONResponse(["not", "an", "object"], status_code=200)
        return {"orgs": [{"org_id": k, "name": v} for k, v in state.orgs.items()]}

    @router.post("/orgs")
    async def create_org(request: Request) -> Any:
        if not authorized(request):
            return _error(401, "UNAUTHORIZED", "Invalid or missing API key")
        body = await request.json()
        if body.get("name") == "taken":
            return _error(422, "VALIDATION_ERROR", "invalid", [{"path": "name", "message": "Name is taken."}])
        org_id = f"org-{len(state.orgs) + 1}"
        state.orgs[org_id] = body["name"]
        return JSONResponse({"org_id": org_id, "name": body["name"]}, status_code=201)

    @router.post("/orgs/{org_id}/api-key")
    async def api_key(org_id: str) -> Any:
        key = f"qv_key_{len(state.keys) + 1}_{org_id}"
        state.keys[org_id] = key
        state.fresh_key[org_id] = key
        return JSONResponse({"api_key": key}, status_code=201)

    @router.get("/orgs/{org_id}/configuration")
    async def get_configuration(org_id: str) -> Any:
        if org_id not in state.configurations:
            return _error(404, "NOT_FOUND", "No configuration")
        return configuration(org_id)

    @router.post("/orgs/{org_id}/configuration")
    async def create_configuration(org_id: str, request: Request) -> Any:
        body = await request.json()
        state.configurations[org_id] = {"source": body["source"], "status": "draft"}
        return JSONResponse(configuration(org_id), status_code=201)

    @router.post("/orgs/{org_id}/configuration/publish")
    async def publish(org_id: str) -> Any:
        state.configurations[org_id]["status"] = "published"
        return configuration(org_id)

    @router.get("/orgs/{org_id}/customers")
    async def customers(org_id: str) -> Any:
        return {"customers": list(state.customers.get(org_id, {}).values())}

    @router.put("/orgs/{org_id}/customers")
    async def put_customers(org_id: str, request: Request) -> Any:
        body = await request.json()
        for customer in body["customers"]:
            for ext in customer["external_ids"]:
                if ext["id"] == "conflict":
                    return _error(409, "CONFLICT", "External ID conflict is used by another customer")
            state.customers.setdefault(org_id, {})[customer["customer_id"]] = customer
        return {"customers": body["customers"]}

    @router.delete("/orgs/{org_id}/customers/{customer_id}/external-ids/{source}/{external_id}")
    async def remove_external_id(org_id: str, customer_id: str, source: str, external_id: str) -> Any:
        customer = state.customers.get(org_id, {}).get(customer_id)
        wanted = {"source": source, "id": external_id}
        if customer is None or wanted not in customer["external_ids"]:
            return _error(404, "NOT_FOUND", "External ID not found for this customer")
        customer["external_ids"].remove(wanted)
        return {"success": True}

    @router.get("/orgs/{org_id}/metrics")
    async def metrics(org_id: str) -> Any:
        return {"metrics": list(state.metrics.get(org_id, {}).values())}

    @router.patch("/orgs/{org_id}/metrics/{metric_key}")
    async def patch_metric(org_id: str, metric_key: str, request: Request) -> Any:
        metric = state.metrics[org_id][metric_key]
        metric["rollup"] = (await request.json())["rollup"]
        return metric

    @router.get("/orgs/{org_id}/push-calls")
    async def push_calls(org_id: str, limit: int = 20) -> Any:
        return {"calls": state.calls.get(org_id, [])[:limit]}

    return router


def build_app(state: StubState, token: str = "admin-secret") -> FastAPI:
    app = FastAPI()
    app.include_router(build_stub_admin(state, token))
    app.include_router(
        build_panel_router(AdminSettings(admin_token=token, public_base_url="http://127.0.0.1"))
    )
    return app
