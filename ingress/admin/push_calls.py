"""``GET /admin/v1/orgs/{org_id}/push-calls``: the newest push calls of an organization (admin token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from core.settings import AdminSettings
from ingress.admin.auth import require_admin
from ingress.push.call_log import PushCallLog
from ingress.push.models import ErrorBody, Summary


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


def build_push_calls_router(call_log: PushCallLog, admin: AdminSettings) -> APIRouter:
    router = APIRouter(prefix="/admin/v1", tags=["admin"], dependencies=[Depends(require_admin(admin))])

    @router.get(
        "/orgs/{org_id}/push-calls",
        summary="Recent push calls of an organization (newest first)",
        response_model=PushCalls,
        responses={401: {"model": ErrorBody, "description": "UNAUTHORIZED"}},
    )
    async def push_calls(org_id: str, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
        return {"push_calls": await call_log.recent(org_id, limit)}

    return router
