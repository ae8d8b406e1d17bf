"""``POST /v1/usage/events``: reads the request, hands it to ``PushService``, writes the response."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from core.edge import JSON, read_body
from core.errors import ApiError
from ingress.push.models import PUSH_RESPONSES, PushRequest
from ingress.push.service import PushService

_bearer = HTTPBearer(auto_error=False, description="The organization's API key")


def build_push_router(push: PushService) -> APIRouter:
    router = APIRouter(tags=["push"])

    def organization(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        return push.authenticate(credentials.credentials if credentials else None)

    @router.post(
        "/v1/usage/events",
        summary="Push usage events",
        description=(
            "Validates the whole batch (1-1000 events), resolves each external_customer_id, and "
            "writes one record per matched event to the event log (live mode) before answering. "
            "Verify-only until the organization's Push API configuration is published, or with "
            "`dry_run=true`. With `Idempotency-Key`, a repeated request gets the stored answer."
        ),
        response_model=None,
        responses=PUSH_RESPONSES,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": {"$ref": "#/components/schemas/PushRequest"}}},
            }
        },
    )
    async def push_events(
        request: Request,
        org_id: Annotated[str, Depends(organization)],
        dry_run: Annotated[bool, Query(description="Force a verify-only call (nothing is written)")] = False,
    ) -> Response:
        push.admit(org_id, dry_run)
        idempotency_key = request.headers.get("idempotency-key")
        try:
            body = await read_body(request, push.settings.max_body_bytes)
        except ApiError as error:
            push.log_rejection(org_id, dry_run, error)
            raise
        outcome = await push.push(org_id, body, dry_run, idempotency_key)
        return Response(
            outcome.body, status_code=outcome.status_code, headers=outcome.headers, media_type=JSON
        )

    return router


def document_models(app: FastAPI, models: list[type[BaseModel]]) -> None:
    """Adds request models that no route parameter declares to ``components.schemas``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(model_schema.pop("$defs", {}))
            components[model.__name__] = model_schema
        _document_idempotency_header(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_idempotency_header(schema: dict[str, Any]) -> None:
    operation = schema.get("paths", {}).get("/v1/usage/events", {}).get("post")
    if operation is None:
        return
    operation.setdefault("parameters", []).append(
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "1-255 printable ASCII characters; the first 200/422 answer is kept 24 h",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7E]+$"},
        }
    )


__all__ = ["PushRequest", "build_push_router", "document_models"]
