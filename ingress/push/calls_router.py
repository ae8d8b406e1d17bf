"""``GET /admin/v1/orgs/{org_id}/push-calls``: the newest push calls of an organization (admin token)."""

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from core.errors import ApiError
from core.settings import AdminSettings
from ingress.push.call_log import PushCallLog
from ingress.push.models import ErrorBody, Summary

_bearer = HTTPBearer(auto_error=False, description="The admin token")


class PushCallEntry(BaseModel):
    received_at: str
    mode: str
    status_code: int
    error_code: str | None
    summary: Summary
    inserted: int
    unmatched_external_ids: list[str]
    idempotency_replayed: bool


class PushCalls(BaseModel):
    push_calls: list[PushCallEntry]


def build_calls_router(call_log: Callable[[], PushCallLog], admin: AdminSettings) -> APIRouter:
    router = APIRouter(prefix="/admin/v1", tags=["admin"])

    def require_admin(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        token = credentials.credentials if credentials else ""
        if not admin.admin_token or not hmac.compare_digest(token.encode(), admin.admin_token.encode()):
            raise ApiError(401, "UNAUTHORIZED", "Invalid or missing admin token")

    @router.get(
        "/orgs/{org_id}/push-calls",
        summary="Recent push calls of an organization (newest first)",
        response_model=PushCalls,
        responses={401: {"model": ErrorBody, "description": "UNAUTHORIZED"}},
        dependencies=[Depends(require_admin)],
    )
    async def push_calls(org_id: str, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
        return {"push_calls": await call_log().recent(org_id, limit)}

    return router
