"""The configuration panel's pages (``/admin/``), rendered on the server from the admin JSON API.

Every page talks to ``/admin/v1`` in-process (see ``client.AdminApi``); nothing here touches the
control plane directly. Sign-in sets a signed, HttpOnly, SameSite=Strict session cookie; every POST
carries the session's CSRF token in a hidden field.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import UploadFile

from core.settings import AdminSettings, ClickHouseSettings
from ingress.admin.customers_file import CSV_COLUMNS, CustomersFile
from ingress.panel import forms
from ingress.panel.client import AdminApi, ApiResult
from ingress.panel.security import (
    KEY_FLASH_COOKIE,
    KEY_FLASH_MAX_AGE_S,
    LOGIN_COOKIE,
    LOGIN_MAX_AGE_S,
    SESSION_COOKIE,
    RevokedSessions,
    Session,
    SessionCodec,
    SignInThrottle,
    check_csrf,
    tokens_equal,
)
from ingress.panel.sources import add_source_routes
from ingress.panel.usage import add_usage_routes

log = logging.getLogger(__name__)
PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
NOTICES = {
    "org-created": "Organization created. Next: create its configuration.",
    "configuration-created": "Configuration created as a draft. Next: generate the API key.",
    "key-generated": "API key generated. Any previous key has stopped working.",
    "rollup-saved": "Rollup saved.",
    "external-id-removed": "External ID removed. It stops resolving within a few seconds.",
    "published": "Published. Calls to the Push API are now stored (live).",
}
PUSH_CALLS_LIMIT = 20


class Pages:
    """Rendering and session plumbing shared by the routes."""

    def __init__(self, admin: AdminSettings) -> None:
        self.admin = admin
        self.codec = SessionCodec(admin.admin_token)
        self.revoked = RevokedSessions(self.codec.max_age_s)
        self.throttle = SignInThrottle()
        self.env = Environment(
            loader=FileSystemLoader(PACKAGE_DIR / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["when"] = forms.format_time
        self.static = {
            path.name: path.read_bytes() for path in (PACKAGE_DIR / "static").iterdir() if path.is_file()
        }

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)

    def session(self, request: Request) -> Session | None:
        session = self.codec.read_session(request.cookies.get(SESSION_COOKIE))
        return None if session is None or self.revoked.is_revoked(session) else session

    def api(self, request: Request) -> AdminApi:
        return AdminApi(request.app, self.admin.admin_token)

    def error_page(self, session: Session | None, message: str, status_code: int = 502) -> HTMLResponse:
        return self.render("error.html", status_code=status_code, session=session, message=message)


def build_panel_router(admin: AdminSettings, clickhouse: ClickHouseSettings | None = None) -> APIRouter:
    """The panel's routes under ``/admin/`` (everything except ``/admin/v1``); the Usage page reads
    ClickHouse at ``clickhouse``."""
    pages = Pages(admin)
    router = APIRouter(prefix="/admin", include_in_schema=False)
    _add_static_and_auth_routes(router, pages)
    _add_org_routes(router, pages)
    _add_setup_routes(router, pages)
    _add_customer_routes(router, pages)
    add_usage_routes(router, pages, _signed_in, clickhouse or ClickHouseSettings())
    add_source_routes(router, pages, _signed_in, _csrf_checked)
    return router


# --- helpers ----------------------------------------------------------------------------------------


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _org_url(org_id: str, suffix: str = "", **params: str) -> str:
    url = f"/admin/orgs/{quote(org_id, safe='')}{suffix}"
    return f"{url}?{urlencode(params)}" if params else url


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https"


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {key: value for key, value in form.items()}


def _text(form: dict[str, Any], key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


Handler = Callable[[Request, Session], Awaitable[Response]]


def _signed_in(pages: Pages, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Redirects to sign-in without a valid session; turns admin API outages into an error page."""

    async def endpoint(request: Request) -> Response:
        session = pages.session(request)
        if session is None:
            return _redirect("/admin/login")
        try:
            return await handler(request, session)
        except httpx.HTTPError:
            return pages.error_page(session, "The admin API could not be reached. Try again in a moment.")
        except Exception:  # a page never answers with a stack trace
            log.exception("panel page %s failed", request.url.path)
            return pages.error_page(session, "The page could not be shown. Try again in a moment.")

    return endpoint


def _csrf_checked(pages: Pages, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Like ``_signed_in`` and, in addition, rejects a POST whose CSRF token does not match."""

    async def checked(request: Request, session: Session) -> Response:
        form = await _form(request)
        if not check_csrf(session, _text(form, "csrf_token")):
            return pages.error_page(
                session, "This form has expired or did not come from this panel. Reload the page.", 403
            )
        request.state.form = form
        return await handler(request, session)

    return _signed_in(pages, checked)


def _api_failure(pages: Pages, session: Session, result: ApiResult) -> HTMLResponse:
    if result.status == 404:
        return pages.error_page(session, "Not found: the organization does not exist.", 404)
    _, message = forms.api_error_fields(result.body, ())
    return pages.error_page(session, message or "The admin API refused the request.", 502)


# --- sign-in, sign-out, static files ----------------------------------------------------------------


def _add_static_and_auth_routes(router: APIRouter, pages: Pages) -> None:
    @router.get("/static/{name}")
    async def static(name: str) -> Response:
        body = pages.static.get(name)
        suffix = Path(name).suffix
        if body is None or suffix not in STATIC_TYPES:
            return Response("Not found", status_code=404, media_type="text/plain")
        return Response(body, media_type=STATIC_TYPES[suffix], headers={"Cache-Control": "max-age=300"})

    @router.get("")
    @router.get("/")
    async def home(request: Request) -> Response:
        return _redirect("/admin/orgs" if pages.session(request) else "/admin/login")

    @router.get("/login")
    async def login_page(request: Request) -> Response:
        if pages.session(request):
            return _redirect("/admin/orgs")
        return _login_form(pages, request, {}, None)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await _form(request)
        if not pages.codec.check_login_token(request.cookies.get(LOGIN_COOKIE), _text(form, "csrf_token")):
            return _login_form(pages, request, {}, "The sign-in form expired. Please try again.", 403)
        address = request.client.host if request.client else ""
        wait_s = pages.throttle.wait_s(address)
        if wait_s:
            message = f"Too many wrong tokens. Try again in {wait_s} s."
            response = _login_form(pages, request, {}, message, 429)
            response.headers["Retry-After"] = str(wait_s)
            return response
        token = _text(form, "token").strip()
        errors: forms.FieldErrors = {}
        if not pages.admin.admin_token:
            errors["token"] = "The panel is disabled: the service has no admin token (QUIVLY_ADMIN_TOKEN)."
        elif not token:
            errors["token"] = "Enter the admin token."
        elif not tokens_equal(token, pages.admin.admin_token):
            errors["token"] = "This is not the admin token."
            pages.throttle.failed(address)
        if errors:
            return _login_form(pages, request, errors, None, 401)
        pages.throttle.succeeded(address)
        _, cookie = pages.codec.new_session()
        response = _redirect("/admin/orgs")
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=pages.codec.max_age_s,
            path="/admin",
            httponly=True,
            samesite="strict",
            secure=_is_https(request),
        )
        response.delete_cookie(LOGIN_COOKIE, path="/admin/login")
        return response

    async def logout(request: Request, session: Session) -> Response:
        pages.revoked.revoke(session)  # a copy of the cookie no longer opens the panel
        response = _redirect("/admin/login")
        response.delete_cookie(SESSION_COOKIE, path="/admin")
        return response

    router.add_api_route("/logout", _csrf_checked(pages, logout), methods=["POST"])


def _login_form(
    pages: Pages, request: Request, errors: forms.FieldErrors, message: str | None, status_code: int = 200
) -> Response:
    csrf, cookie = pages.codec.new_login_token()
    response = pages.render(
        "login.html", status_code=status_code, session=None, csrf_token=csrf, errors=errors, message=message
    )
    response.set_cookie(
        LOGIN_COOKIE,
        cookie,
        max_age=LOGIN_MAX_AGE_S,
        path="/admin/login",
        httponly=True,
        samesite="strict",
        secure=_is_https(request),
    )
    return response


# --- organizations ----------------------------------------------------------------------------------


def _add_org_routes(router: APIRouter, pages: Pages) -> None:
    async def orgs_page(request: Request, session: Session) -> Response:
        return await _render_orgs(pages, request, session, {}, "")

    async def create_org(request: Request, session: Session) -> Response:
        raw = _text(request.state.form, "name")
        name, errors = forms.validate_org_name(raw)
        if errors:
            return await _render_orgs(pages, request, session, errors, raw, 422)
        async with pages.api(request) as api:
            result = await api.create_org(name)
        if not result.ok:
            fields, message = forms.api_error_fields(result.body, ("name",))
            return await _render_orgs(pages, request, session, fields or {"name": message or ""}, raw, 422)
        return _redirect(_org_url(str(result.body["org_id"]), notice="org-created"))

    router.add_api_route("/orgs", _signed_in(pages, orgs_page), methods=["GET"])
    router.add_api_route("/orgs", _csrf_checked(pages, create_org), methods=["POST"])


async def _render_orgs(
    pages: Pages,
    request: Request,
    session: Session,
    errors: forms.FieldErrors,
    name: str,
    status_code: int = 200,
) -> Response:
    async with pages.api(request) as api:
        result = await api.list_orgs()
    if not result.ok:
        return _api_failure(pages, session, result)
    orgs = sorted(result.body.get("orgs", []), key=lambda org: str(org.get("name", "")).lower())
    return pages.render(
        "orgs.html", status_code=status_code, session=session, orgs=orgs, errors=errors, name=name
    )


# --- the setup page of one organization ------------------------------------------------------------


async def _find_org(api: AdminApi, org_id: str) -> tuple[dict[str, Any] | None, ApiResult]:
    result = await api.list_orgs()
    if not result.ok:
        return None, result
    for org in result.body.get("orgs", []):
        if str(org.get("org_id")) == org_id:
            return org, result
    return None, ApiResult(404, None)


async def _push_calls(api: AdminApi, org_id: str) -> tuple[list[dict[str, Any]], str | None]:
    result = await api.push_calls(org_id, PUSH_CALLS_LIMIT)
    if not result.ok or not isinstance(result.body, dict):
        return [], "Recent calls are not available right now."
    return [forms.push_call_view(call) for call in result.body["push_calls"]], None


async def _render_setup(
    pages: Pages,
    request: Request,
    session: Session,
    org_id: str,
    *,
    errors: forms.FieldErrors | None = None,
    new_key: str | None = None,
    status_code: int = 200,
) -> Response:
    async with pages.api(request) as api:
        org, found = await _find_org(api, org_id)
        if org is None:
            return _api_failure(pages, session, found)
        config_result = await api.get_configuration(org_id)
        configuration = config_result.body if config_result.ok else None
        if not config_result.ok and config_result.status != 404:
            return _api_failure(pages, session, config_result)
        metrics_result = await api.list_metrics(org_id)
        metrics = metrics_result.body.get("metrics", []) if metrics_result.ok else []
        calls, calls_error = await _push_calls(api, org_id)
    curl = forms.curl_with_key(str(configuration.get("curl_example", "")), new_key) if configuration else ""
    return pages.render(
        "setup.html",
        status_code=status_code,
        session=session,
        org=org,
        configuration=configuration,
        curl=curl,
        curl_has_key=bool(curl) and not forms.has_key_placeholder(curl),
        metrics=metrics,
        rollups=forms.ROLLUPS,
        sources=forms.SOURCES,
        calls=calls,
        calls_error=calls_error,
        new_key=new_key,
        errors=errors or {},
        notice=NOTICES.get(request.query_params.get("notice", "")),
        poll_url=_org_url(org_id, "/push-calls"),
    )


def _add_setup_routes(router: APIRouter, pages: Pages) -> None:
    async def setup_page(request: Request, session: Session) -> Response:
        org_id = request.path_params["org_id"]
        new_key = pages.codec.read_key_flash(request.cookies.get(KEY_FLASH_COOKIE), org_id)
        response = await _render_setup(pages, request, session, org_id, new_key=new_key)
        if KEY_FLASH_COOKIE in request.cookies:
            response.delete_cookie(KEY_FLASH_COOKIE, path=_org_url(org_id))  # shown once
        return response

    async def create_configuration(request: Request, session: Session) -> Response:
        org_id = request.path_params["org_id"]
        source, errors = forms.validate_source(_text(request.state.form, "source"))
        if errors:
            return await _render_setup(pages, request, session, org_id, errors=errors, status_code=422)
        async with pages.api(request) as api:
            result = await api.create_configuration(org_id, source)
        if not result.ok and result.status != 409:
            fields, message = forms.api_error_fields(result.body, ("source",))
            errors = fields or {"source": message or "The configuration could not be created."}
            return await _render_setup(pages, request, session, org_id, errors=errors, status_code=422)
        return _redirect(_org_url(org_id, notice="configuration-created"))

    async def generate_key(request: Request, session: Session) -> Response:
        org_id = request.path_params["org_id"]
        async with pages.api(request) as api:
            result = await api.generate_key(org_id)
        if not result.ok:
            return _api_failure(pages, session, result)
        # Post/redirect/get, so reloading the page never generates another key. The key rides along
        # encrypted in an HttpOnly cookie limited to this organization's page, deleted once shown.
        response = _redirect(_org_url(org_id, notice="key-generated") + "#api-key")
        response.set_cookie(
            KEY_FLASH_COOKIE,
            pages.codec.new_key_flash(org_id, str(result.body["api_key"])),
            max_age=KEY_FLASH_MAX_AGE_S,
            path=_org_url(org_id),
            httponly=True,
            samesite="strict",
            secure=_is_https(request),
        )
        return response

    async def publish(request: Request, session: Session) -> Response:
        org_id = request.path_params["org_id"]
        errors = forms.validate_publish_confirmation(_text(request.state.form, "confirm"))
        if errors:
            return await _render_setup(pages, request, session, org_id, errors=errors, status_code=422)
        async with pages.api(request) as api:
            result = await api.publish(org_id)
        if not result.ok:
            _, message = forms.api_error_fields(result.body, ())
            errors = {"confirm": message or "Publishing failed."}
            return await _render_setup(pages, request, session, org_id, errors=errors, status_code=422)
        return _redirect(_org_url(org_id, notice="published") + "#publish")

    async def set_rollup(request: Request, session: Session) -> Response:
        org_id, metric_key = request.path_params["org_id"], request.path_params["metric_key"]
        rollup, errors = forms.validate_rollup(_text(request.state.form, "rollup"))
        if not errors:
            async with pages.api(request) as api:
                result = await api.set_rollup(org_id, metric_key, rollup)
            if result.ok:
                return _redirect(_org_url(org_id, notice="rollup-saved") + "#metrics")
            fields, message = forms.api_error_fields(result.body, ("rollup",))
            errors = fields or {"rollup": message or "The rollup could not be saved."}
        keyed = {f"rollup:{metric_key}": errors["rollup"]}
        return await _render_setup(pages, request, session, org_id, errors=keyed, status_code=422)

    async def push_calls_fragment(request: Request, session: Session) -> Response:
        async with pages.api(request) as api:
            calls, calls_error = await _push_calls(api, request.path_params["org_id"])
        return pages.render("_push_calls.html", calls=calls, calls_error=calls_error)

    router.add_api_route("/orgs/{org_id}", _signed_in(pages, setup_page), methods=["GET"])
    router.add_api_route("/orgs/{org_id}/push-calls", _fragment(pages, push_calls_fragment), methods=["GET"])
    router.add_api_route(
        "/orgs/{org_id}/configuration", _csrf_checked(pages, create_configuration), methods=["POST"]
    )
    router.add_api_route("/orgs/{org_id}/api-key", _csrf_checked(pages, generate_key), methods=["POST"])
    router.add_api_route("/orgs/{org_id}/publish", _csrf_checked(pages, publish), methods=["POST"])
    router.add_api_route(
        "/orgs/{org_id}/metrics/{metric_key}", _csrf_checked(pages, set_rollup), methods=["POST"]
    )


def _fragment(pages: Pages, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """For the polling script: 401 instead of a redirect when the session is gone."""

    async def endpoint(request: Request) -> Response:
        session = pages.session(request)
        if session is None:
            return Response("Signed out", status_code=401, media_type="text/plain")
        try:
            return await handler(request, session)
        except Exception:
            log.exception("panel fragment %s failed", request.url.path)
            return Response("Unavailable", status_code=503, media_type="text/plain")

    return endpoint


# --- customers ----------------------------------------------------------------------------------------


async def _render_customers(
    pages: Pages,
    request: Request,
    session: Session,
    org_id: str,
    *,
    errors: forms.FieldErrors | None = None,
    upload: CustomersFile | None = None,
    upload_message: str | None = None,
    status_code: int = 200,
) -> Response:
    query = request.query_params.get("q", "")
    async with pages.api(request) as api:
        org, found = await _find_org(api, org_id)
        if org is None:
            return _api_failure(pages, session, found)
        result = await api.list_customers(org_id)
    if not result.ok:
        return _api_failure(pages, session, result)
    customers = result.body.get("customers", [])
    return pages.render(
        "customers.html",
        status_code=status_code,
        session=session,
        org=org,
        customers=forms.filter_customers(customers, query),
        total=len(customers),
        query=query,
        errors=errors or {},
        upload=upload,
        upload_message=upload_message,
        columns=",".join(CSV_COLUMNS),
        notice=NOTICES.get(request.query_params.get("notice", "")),
    )


def _add_customer_routes(router: APIRouter, pages: Pages) -> None:
    async def customers_page(request: Request, session: Session) -> Response:
        return await _render_customers(pages, request, session, request.path_params["org_id"])

    async def upload(request: Request, session: Session) -> Response:
        org_id = request.path_params["org_id"]
        file = request.state.form.get("file")
        data = await file.read() if isinstance(file, UploadFile) else b""
        filename = (file.filename or "") if isinstance(file, UploadFile) else ""
        parsed, file_error = forms.parse_upload(data, filename)
        if parsed is None or not parsed.customers:
            error = file_error or "No row could be used; see the problems below."
            return await _render_customers(
                pages, request, session, org_id, errors={"file": error}, upload=parsed, status_code=422
            )
        async with pages.api(request) as api:
            result = await api.upsert_customers(org_id, parsed.customers)
        if not result.ok:
            _, message = forms.api_error_fields(result.body, ())
            return await _render_customers(
                pages, request, session, org_id, errors={"file": message or "Upload failed."}, status_code=422
            )
        return await _render_customers(pages, request, session, org_id, upload=parsed, upload_message="saved")

    async def remove_external_id(request: Request, session: Session) -> Response:
        org_id, form = request.path_params["org_id"], request.state.form
        customer_id, source, external_id = (_text(form, name) for name in ("customer_id", "source", "id"))
        if not (customer_id and source and external_id):
            return await _render_customers(
                pages, request, session, org_id, errors={"remove": "Choose an external ID to remove."}
            )
        async with pages.api(request) as api:
            result = await api.remove_external_id(org_id, customer_id, source, external_id)
        if not result.ok:
            _, message = forms.api_error_fields(result.body, ())
            errors = {"remove": message or "The external ID could not be removed."}
            return await _render_customers(pages, request, session, org_id, errors=errors, status_code=422)
        return _redirect(_org_url(org_id, "/customers", notice="external-id-removed"))

    router.add_api_route("/orgs/{org_id}/customers", _signed_in(pages, customers_page), methods=["GET"])
    router.add_api_route(
        "/orgs/{org_id}/customers/remove-external-id",
        _csrf_checked(pages, remove_external_id),
        methods=["POST"],
    )
    router.add_api_route("/orgs/{org_id}/customers", _csrf_checked(pages, upload), methods=["POST"])
