"""The panel's warehouse sources (``/admin/orgs/{org}/sources``): choose a source, fill its form
(errors next to each field), test-run it and see the report, publish with a confirmation, and
follow its runs. Every action goes through the admin JSON API like the rest of the panel;
credentials are write-only (the form shows ``********`` for one that is set and keeps it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ingress.panel import forms
from ingress.panel.client import AdminApi
from ingress.warehouse.model import KINDS, MASK

if TYPE_CHECKING:
    from ingress.panel.router import Pages
    from ingress.panel.security import Session

Handler = Callable[[Request, "Session"], Awaitable[Response]]
Wrap = Callable[["Pages", Handler], Callable[[Request], Awaitable[Response]]]
CHOICES = {
    "push_api": "Push API",
    "bigquery": "BigQuery",
    "snowflake": "Snowflake",
    "clickhouse": "ClickHouse",
}
FIELD_LABELS = {
    "url": "URL (https://host:8443)",
    "api_endpoint": "API endpoint (emulators only)",
    "service_account_json": "Service-account key (JSON)",
    "private_key": "Private key (PEM, instead of a password)",
}
NOTICES = {
    "created": "Source created as a draft: run a test to see what it would store.",
    "saved": "Source saved.",
    "published": "Published: scheduled runs now store their rows.",
    "paused": "Paused: no more scheduled runs.",
}


def _url(org_id: str, suffix: str = "") -> str:
    return f"/admin/orgs/{quote(org_id, safe='')}/sources{suffix}"


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def kind_fields(kind: str) -> list[dict[str, Any]]:
    """The connection fields of a kind's form, in order: name, label, required, secret."""
    spec = KINDS[kind]
    named = [(n, True, False) for n in spec.required] + [(n, False, False) for n in spec.optional]
    named += [(n, False, True) for n in spec.secrets]
    return [
        {
            "name": name,
            "required": required,
            "secret": secret,
            "label": FIELD_LABELS.get(name, name.replace("_", " ").capitalize()),
            "multiline": name in ("service_account_json", "private_key"),
        }
        for name, required, secret in named
    ]


def body_from_form(
    kind: str, form: dict[str, Any], creating: bool
) -> tuple[dict[str, Any], forms.FieldErrors]:
    """The admin API body of the source form, and the errors the panel catches itself."""
    errors: forms.FieldErrors = {}
    connection: dict[str, Any] = {}
    for field in kind_fields(kind):
        name = field["name"]
        value = str(form.get(f"connection.{name}", "")).strip()
        if field["secret"]:
            if value and value != MASK:
                connection[name] = value
            continue
        if not value:
            if not creating:
                connection[name] = None
            elif field["required"]:
                errors[f"connection.{name}"] = "Required."
            continue
        connection[name] = int(value) if name == "port" and value.isdigit() else value
    body: dict[str, Any] = {"name": str(form.get("name", "")).strip(), "connection": connection}
    body["query"] = str(form.get("query", ""))
    if not body["query"].strip():
        errors["query"] = "Enter the query."
    for name, target in (("interval_s", "schedule.interval_s"), ("lookback_s", "incremental.lookback_s")):
        raw = str(form.get(name, "")).strip()
        if not raw.isdigit():
            errors[target] = "Enter a whole number of seconds."
    if not errors:
        body["schedule"] = {"interval_s": int(str(form["interval_s"]).strip())}
        column = str(form.get("watermark_column", "")).strip()
        lookback = int(str(form["lookback_s"]).strip())
        body["incremental"] = {"column": column, "lookback_s": lookback} if column else None
    if creating:
        body["kind"] = kind
    return body, errors


def api_field_errors(body: Any) -> tuple[forms.FieldErrors, str | None]:
    """422 details keyed by their full path (``connection.url``), plus a general message."""
    if not isinstance(body, dict):
        return {}, "The admin API gave an unexpected answer."
    fields = {
        str(item.get("path")): str(item.get("message"))
        for item in body.get("details") or []
        if isinstance(item, dict) and isinstance(body.get("details"), list)
    }
    return fields, (None if fields else str(body.get("error") or "The request failed."))


def form_values(source: dict[str, Any] | None) -> dict[str, Any]:
    if source is None:
        return {"interval_s": "3600", "watermark_column": "updated_at", "lookback_s": "86400"}
    values = {f"connection.{k}": v for k, v in source["connection"].items()}
    incremental = source.get("incremental") or {}
    values |= {
        "name": source["name"],
        "query": source["query"],
        "interval_s": source["schedule"]["interval_s"],
        "watermark_column": incremental.get("column", ""),
        "lookback_s": incremental.get("lookback_s", 0),
    }
    return values


def add_source_routes(router: APIRouter, pages: Pages, signed_in: Wrap, csrf_checked: Wrap) -> None:
    async def org_of(api: AdminApi, org_id: str) -> dict[str, Any] | None:
        result = await api.list_orgs()
        orgs = result.body.get("orgs", []) if result.ok else []
        return next((org for org in orgs if org.get("org_id") == org_id), None)

    async def render_list(
        request: Request, session: Session, kind: str, values: dict[str, Any], errors: forms.FieldErrors,
        message: str | None = None, status_code: int = 200,
    ) -> Response:  # fmt: skip
        org_id = request.path_params["org_id"]
        async with pages.api(request) as api:
            org = await org_of(api, org_id)
            listed = await api.call("GET", f"/orgs/{quote(org_id, safe='')}/sources")
        if org is None:
            return pages.error_page(session, "Not found: the organization does not exist.", 404)
        return pages.render(
            "sources.html", status_code=status_code, session=session, org=org, choices=CHOICES, kind=kind,
            fields=kind_fields(kind) if kind in KINDS else [], values=values, errors=errors, message=message,
            sources=listed.body.get("sources", []) if listed.ok else [], mask=MASK,
        )  # fmt: skip

    async def render_source(
        request: Request, session: Session, *, values: dict[str, Any] | None = None,
        errors: forms.FieldErrors | None = None, message: str | None = None,
        report: dict[str, Any] | None = None, status_code: int = 200,
    ) -> Response:  # fmt: skip
        org_id, source_id = request.path_params["org_id"], request.path_params["source_id"]
        path = f"/orgs/{quote(org_id, safe='')}/sources/{quote(source_id, safe='')}"
        async with pages.api(request) as api:
            org = await org_of(api, org_id)
            found = await api.call("GET", path)
            runs = await api.call("GET", f"{path}/runs", params={"limit": 20})
        if org is None or not found.ok:
            return pages.error_page(session, "Not found: the source does not exist.", 404)
        source = found.body
        return pages.render(
            "source.html", status_code=status_code, session=session, org=org, source=source,
            kind_label=CHOICES[source["kind"]], fields=kind_fields(source["kind"]),
            values=values or form_values(source), errors=errors or {}, message=message, report=report,
            runs=runs.body.get("runs", []) if runs.ok else [], mask=MASK,
            notice=NOTICES.get(request.query_params.get("notice", "")),
        )  # fmt: skip

    async def list_page(request: Request, session: Session) -> Response:
        kind = request.query_params.get("kind", "")
        if kind == "push_api":
            return _redirect(f"/admin/orgs/{quote(request.path_params['org_id'], safe='')}#configuration")
        return await render_list(request, session, kind if kind in KINDS else "", form_values(None), {})

    async def create(request: Request, session: Session) -> Response:
        org_id, form = request.path_params["org_id"], request.state.form
        kind = str(form.get("kind", ""))
        if kind not in KINDS:
            return await render_list(
                request, session, "", form, {"kind": "Choose a source."}, status_code=422
            )
        body, errors = body_from_form(kind, form, creating=True)
        if not errors:
            async with pages.api(request) as api:
                result = await api.call("POST", f"/orgs/{quote(org_id, safe='')}/sources", json=body)
            if result.ok:
                return _redirect(_url(org_id, f"/{quote(result.body['source_id'], safe='')}?notice=created"))
            errors, message = api_field_errors(result.body)
            return await render_list(request, session, kind, form, errors, message, 422)
        return await render_list(request, session, kind, form, errors, None, 422)

    async def source_page(request: Request, session: Session) -> Response:
        return await render_source(request, session)

    async def action(request: Request, session: Session) -> Response:
        org_id, source_id = request.path_params["org_id"], request.path_params["source_id"]
        form, verb = request.state.form, request.path_params["action"]
        path = f"/orgs/{quote(org_id, safe='')}/sources/{quote(source_id, safe='')}"
        async with pages.api(request) as api:
            if verb == "update":
                current = await api.call("GET", path)
                if not current.ok:
                    return pages.error_page(session, "Not found: the source does not exist.", 404)
                body, errors = body_from_form(current.body["kind"], form, creating=False)
                if errors:
                    return await render_source(request, session, values=form, errors=errors, status_code=422)
                result = await api.call("PATCH", path, json=body)
                if not result.ok:
                    fields, message = api_field_errors(result.body)
                    return await render_source(
                        request, session, values=form, errors=fields, message=message, status_code=422
                    )
                return _redirect(_url(org_id, f"/{quote(source_id, safe='')}?notice=saved"))
            if verb == "test-run":
                result = await api.call("POST", f"{path}/test-run")
                if result.ok:
                    return await render_source(request, session, report=result.body)
                _, message = api_field_errors(result.body)
                return await render_source(
                    request, session, message=f"Test run failed: {message}", status_code=422
                )
            if verb == "publish":
                errors = forms.validate_publish_confirmation(str(form.get("confirm", "")))
                if errors:
                    return await render_source(request, session, errors=errors, status_code=422)
                result = await api.call("POST", f"{path}/publish")
            elif verb == "pause":
                result = await api.call("POST", f"{path}/pause")
            else:
                return pages.error_page(session, "Unknown action.", 404)
        if not result.ok:
            _, message = api_field_errors(result.body)
            return await render_source(request, session, message=message, status_code=422)
        return _redirect(
            _url(
                org_id,
                f"/{quote(source_id, safe='')}?notice={'published' if verb == 'publish' else 'paused'}",
            )
        )

    router.add_api_route("/orgs/{org_id}/sources", signed_in(pages, list_page), methods=["GET"])
    router.add_api_route("/orgs/{org_id}/sources", csrf_checked(pages, create), methods=["POST"])
    router.add_api_route("/orgs/{org_id}/sources/{source_id}", signed_in(pages, source_page), methods=["GET"])
    router.add_api_route(
        "/orgs/{org_id}/sources/{source_id}/{action}", csrf_checked(pages, action), methods=["POST"]
    )
