"""The panel's only way to the data: the admin JSON API, called in-process over ASGI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from starlette.types import ASGIApp

INTERNAL_BASE_URL = "http://panel.internal"


@dataclass(frozen=True)
class ApiResult:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class AdminApi:
    """Thin async wrapper over ``/admin/v1`` with the admin token as bearer."""

    def __init__(self, app: ASGIApp, admin_token: str, timeout_s: float = 30.0) -> None:
        self._client = httpx.AsyncClient(
            # The admin API's own handlers already answered (a 503 for ClickHouse down, say): use
            # that answer rather than the exception Starlette re-raises after sending it.
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url=INTERNAL_BASE_URL,
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=timeout_s,
        )

    async def __aenter__(self) -> AdminApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def call(
        self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None
    ) -> ApiResult:
        response = await self._client.request(method, f"/admin/v1{path}", json=json, params=params)
        try:
            body = response.json()
        except ValueError:
            body = None
        return ApiResult(response.status_code, body)

    async def list_orgs(self) -> ApiResult:
        return await self.call("GET", "/orgs")

    async def create_org(self, name: str) -> ApiResult:
        return await self.call("POST", "/orgs", json={"name": name})

    async def generate_key(self, org_id: str) -> ApiResult:
        return await self.call("POST", f"/orgs/{_q(org_id)}/api-key")

    async def get_configuration(self, org_id: str) -> ApiResult:
        return await self.call("GET", f"/orgs/{_q(org_id)}/configuration")

    async def create_configuration(self, org_id: str, source: str) -> ApiResult:
        return await self.call("POST", f"/orgs/{_q(org_id)}/configuration", json={"source": source})

    async def publish(self, org_id: str) -> ApiResult:
        return await self.call("POST", f"/orgs/{_q(org_id)}/configuration/publish")

    async def list_customers(self, org_id: str) -> ApiResult:
        return await self.call("GET", f"/orgs/{_q(org_id)}/customers")

    async def upsert_customers(self, org_id: str, customers: list[dict[str, Any]]) -> ApiResult:
        return await self.call("PUT", f"/orgs/{_q(org_id)}/customers", json={"customers": customers})

    async def remove_external_id(
        self, org_id: str, customer_id: str, source: str, external_id: str
    ) -> ApiResult:
        path = f"/orgs/{_q(org_id)}/customers/{_q(customer_id)}/external-ids/{_q(source)}/{_q(external_id)}"
        return await self.call("DELETE", path)

    async def list_metrics(self, org_id: str) -> ApiResult:
        return await self.call("GET", f"/orgs/{_q(org_id)}/metrics")

    async def set_rollup(self, org_id: str, metric_key: str, rollup: str) -> ApiResult:
        return await self.call(
            "PATCH", f"/orgs/{_q(org_id)}/metrics/{_q(metric_key)}", json={"rollup": rollup}
        )

    async def push_calls(self, org_id: str, limit: int = 20) -> ApiResult:
        return await self.call("GET", f"/orgs/{_q(org_id)}/push-calls", params={"limit": limit})


def _q(segment: str) -> str:
    return quote(segment, safe="")
