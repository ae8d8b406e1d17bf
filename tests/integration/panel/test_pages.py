"""The panel's pages over the real admin API, push-call log and control plane (ClickHouse through
the chdb endpoint); what a page saved is checked through the admin API. The browser flow over the
whole ingress app is tests/e2e."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.settings import ClickHouseSettings
from ingress.panel.security import SESSION_COOKIE
from ingress.push.call_log import PushCall
from tests.integration.panel.conftest import TOKEN, Panel, build_app

pytestmark = pytest.mark.clickhouse


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def sign_in(client: TestClient) -> str:
    page = client.get("/admin/login")
    response = client.post("/admin/login", data={"token": TOKEN, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 200 and "Organizations" in response.text
    return csrf_of(response.text)


def create_org(panel: Panel, csrf: str, name: str = "Acme") -> str:
    created = panel.client.post("/admin/orgs", data={"name": name, "csrf_token": csrf})
    assert created.status_code == 200 and "Organization created" in created.text
    orgs: Any = panel.api("GET", "/orgs")
    return str(next(org["org_id"] for org in orgs["orgs"] if org["name"] == name))


def test_pages_redirect_to_sign_in_and_fragment_says_401(panel: Panel) -> None:
    client = panel.client
    response = client.get("/admin/orgs", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"
    assert client.get("/admin/orgs/org-1/push-calls").status_code == 401
    assert client.get("/admin/", follow_redirects=False).headers["location"] == "/admin/login"


def test_sign_in_sets_a_strict_httponly_expiring_cookie(panel: Panel) -> None:
    client = panel.client
    page = client.get("/admin/login")
    wrong = client.post("/admin/login", data={"token": "nope", "csrf_token": csrf_of(page.text)})
    assert wrong.status_code == 401 and "This is not the admin token." in wrong.text
    page = client.get("/admin/login")
    response = client.post(
        "/admin/login", data={"token": TOKEN, "csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(SESSION_COOKIE)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=" in cookie
    assert TOKEN not in cookie and TOKEN not in response.headers["location"]


def test_sign_in_without_login_csrf_is_rejected(panel: Panel) -> None:
    response = panel.client.post("/admin/login", data={"token": TOKEN, "csrf_token": "forged"})
    assert response.status_code == 403
    assert SESSION_COOKIE not in panel.client.cookies


def test_rotated_admin_token_signs_everyone_out(
    panel: Panel, clickhouse_settings: ClickHouseSettings
) -> None:
    sign_in(panel.client)
    app, _, _ = build_app(clickhouse_settings, token="rotated")
    second = TestClient(app)  # no lifespan: the session check comes first
    second.cookies.set(SESSION_COOKIE, panel.client.cookies[SESSION_COOKIE], path="/admin")
    assert second.get("/admin/orgs", follow_redirects=False).status_code == 303


def test_post_without_csrf_token_changes_nothing(panel: Panel) -> None:
    sign_in(panel.client)
    response = panel.client.post("/admin/orgs", data={"name": "Acme", "csrf_token": "forged"})
    assert response.status_code == 403
    assert panel.api("GET", "/orgs") == {"orgs": []}


def test_org_creation_validates_next_to_the_field(panel: Panel) -> None:
    csrf = sign_in(panel.client)
    empty = panel.client.post("/admin/orgs", data={"name": "  ", "csrf_token": csrf})
    assert empty.status_code == 422 and 'id="name-error"' in empty.text
    too_long = panel.client.post("/admin/orgs", data={"name": "n" * 256, "csrf_token": csrf})
    assert too_long.status_code == 422 and "255" in too_long.text
    create_org(panel, csrf, "n" * 255)  # the admin API's limit
    create_org(panel, csrf, "Acme")
    assert "Acme" in panel.client.get("/admin/orgs").text


def test_configuration_key_and_publish_flow(panel: Panel) -> None:
    client = panel.client
    csrf = sign_in(client)
    org_id = create_org(panel, csrf)
    no_source = client.post(f"/admin/orgs/{org_id}/configuration", data={"csrf_token": csrf})
    assert no_source.status_code == 422 and "Choose a data source." in no_source.text
    page = client.post(f"/admin/orgs/{org_id}/configuration", data={"source": "push_api", "csrf_token": csrf})
    assert "Draft" in page.text and "Push API" in page.text

    redirect = client.post(f"/admin/orgs/{org_id}/api-key", data={"csrf_token": csrf}, follow_redirects=False)
    assert redirect.status_code == 303 and "qvk_" not in redirect.headers["location"]
    cookie = redirect.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Max-Age=120" in cookie and "qvk_" not in cookie
    keyed = client.get(redirect.headers["location"])
    key = re.search(r"qvk_[A-Za-z0-9_-]+", keyed.text)
    assert key is not None and keyed.headers["cache-control"] == "no-store"
    assert "previous key stop working" in keyed.text
    later = client.get(f"/admin/orgs/{org_id}").text  # shown once: no key box again
    assert 'id="api-key"' not in later or key.group(0) not in later.split('id="api-key"')[1][:400]

    unconfirmed = client.post(f"/admin/orgs/{org_id}/publish", data={"csrf_token": csrf})
    assert unconfirmed.status_code == 422 and 'id="confirm-error"' in unconfirmed.text
    configuration: Any = panel.api("GET", f"/orgs/{org_id}/configuration")
    assert configuration["status"] == "draft"
    published = client.post(f"/admin/orgs/{org_id}/publish", data={"confirm": "yes", "csrf_token": csrf})
    assert 'data-status="published"' in published.text
    configuration = panel.api("GET", f"/orgs/{org_id}/configuration")
    assert configuration["status"] == "published"


def test_metrics_rollup_and_verification_fragment(panel: Panel) -> None:
    client = panel.client
    csrf = sign_in(client)
    org_id = create_org(panel, csrf)
    client.post(f"/admin/orgs/{org_id}/configuration", data={"source": "push_api", "csrf_token": csrf})
    seen = datetime(2026, 6, 11, 9, 0, tzinfo=UTC)
    panel.plane.discovery.saw(org_id, ["api_calls"], seen)
    panel.plane.discovery.flush()
    panel.call_log.record(
        PushCall(
            org_id,
            datetime.now(UTC),
            "test",
            200,
            total=2,
            matched=1,
            unmatched=1,
            unmatched_external_ids=["ghost-42"],
        )
    )
    page = client.get(f"/admin/orgs/{org_id}").text
    assert "2026-06-11 09:00:00 UTC" in page
    assert "ghost-42" in page
    bad = client.post(
        f"/admin/orgs/{org_id}/metrics/api_calls", data={"rollup": "median", "csrf_token": csrf}
    )
    assert bad.status_code == 422 and 'id="rollup-api_calls-error"' in bad.text
    saved = client.post(f"/admin/orgs/{org_id}/metrics/api_calls", data={"rollup": "max", "csrf_token": csrf})
    metrics: Any = panel.api("GET", f"/orgs/{org_id}/metrics")
    assert "Rollup saved." in saved.text and metrics["metrics"][0]["rollup"] == "max"
    fragment = client.get(f"/admin/orgs/{org_id}/push-calls")
    assert fragment.status_code == 200 and "verify-only" in fragment.text and "ghost-42" in fragment.text
    assert "<html" not in fragment.text


def test_customers_upload_search_and_conflict(panel: Panel) -> None:
    client = panel.client
    csrf = sign_in(client)
    org_id = create_org(panel, csrf)
    csv = (
        b"customer_id,name,source,external_id\n"
        b"pied-piper,Pied Piper,salesforce,0015g\nhooli,Hooli,hubspot,4711\n,,hubspot,zz\n"
    )
    files = {"file": ("customers.csv", csv, "text/csv")}
    page = client.post(f"/admin/orgs/{org_id}/customers", data={"csrf_token": csrf}, files=files)
    assert page.status_code == 200
    assert "2 customer(s) with 2 external ID(s) from 3 row(s); 1 row(s) skipped" in page.text
    customers: Any = panel.api("GET", f"/orgs/{org_id}/customers")
    assert {c["customer_id"] for c in customers["customers"]} == {"pied-piper", "hooli"}
    found = client.get(f"/admin/orgs/{org_id}/customers", params={"q": "4711"}).text
    assert '<td class="mono">hooli</td>' in found and '<td class="mono">pied-piper</td>' not in found
    missing = client.post(f"/admin/orgs/{org_id}/customers", data={"csrf_token": csrf})
    assert missing.status_code == 422 and 'id="file-error"' in missing.text
    json_file = {
        "file": (
            "c.json",
            b'{"customers": [{"customer_id": "aviato", "name": "Aviato"}]}',
            "application/json",
        )
    }
    assert (
        client.post(f"/admin/orgs/{org_id}/customers", data={"csrf_token": csrf}, files=json_file).status_code
        == 200
    )
    conflict = client.post(
        f"/admin/orgs/{org_id}/customers",
        data={"csrf_token": csrf},
        files={"file": ("c.csv", b"customer_id,name,source,external_id\nc,C,hubspot,4711\n", "text/csv")},
    )
    assert conflict.status_code == 422 and "4711" in conflict.text


def test_remove_an_external_id(panel: Panel) -> None:
    client = panel.client
    csrf = sign_in(client)
    org_id = create_org(panel, csrf)
    customers = [
        {"customer_id": "hooli", "name": "Hooli", "external_ids": [{"source": "hubspot", "id": "4711"}]}
    ]
    panel.api("PUT", f"/orgs/{org_id}/customers", json={"customers": customers})
    page = client.get(f"/admin/orgs/{org_id}/customers").text
    assert 'aria-label="Remove hubspot 4711"' in page
    fields = {"customer_id": "hooli", "source": "hubspot", "id": "4711", "csrf_token": csrf}
    url = f"/admin/orgs/{org_id}/customers/remove-external-id"
    forged = client.post(url, data={**fields, "csrf_token": "x"})
    listed: Any = panel.api("GET", f"/orgs/{org_id}/customers")
    assert forged.status_code == 403 and listed["customers"][0]["external_ids"]
    removed = client.post(url, data=fields)
    assert "External ID removed." in removed.text
    listed = panel.api("GET", f"/orgs/{org_id}/customers")
    assert listed["customers"][0]["external_ids"] == []
    again = client.post(url, data=fields)
    assert again.status_code == 422


def test_unknown_org_is_a_404_page(panel: Panel) -> None:
    sign_in(panel.client)
    response = panel.client.get("/admin/orgs/missing")
    assert response.status_code == 404 and "does not exist" in response.text


def test_static_assets_are_served_locally(panel: Panel) -> None:
    client = panel.client
    assert client.get("/admin/static/panel.css").headers["content-type"].startswith("text/css")
    assert "setInterval" in client.get("/admin/static/panel.js").text
    assert client.get("/admin/static/../router.py").status_code == 404


def test_sign_out_revokes_the_session_even_for_a_kept_copy_of_the_cookie(panel: Panel) -> None:
    client = panel.client
    csrf = sign_in(client)
    kept = client.cookies[SESSION_COOKIE]
    response = client.post("/admin/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/admin/orgs", follow_redirects=False).status_code == 303
    client.cookies.set(SESSION_COOKIE, kept, path="/admin")
    assert client.get("/admin/orgs", follow_redirects=False).headers["location"] == "/admin/login"


def test_wrong_tokens_in_a_row_are_throttled(panel: Panel) -> None:
    client = panel.client
    statuses = []
    for _ in range(30):
        page = client.get("/admin/login")
        wrong = client.post("/admin/login", data={"token": "nope", "csrf_token": csrf_of(page.text)})
        statuses.append(wrong.status_code)
    assert statuses[:5] == [401] * 5 and statuses[-1] == 429 and statuses.count(429) >= 24
    page = client.get("/admin/login")
    right = client.post("/admin/login", data={"token": TOKEN, "csrf_token": csrf_of(page.text)})
    assert right.status_code == 429 and int(right.headers["Retry-After"]) >= 1  # locked, even with the token
    assert SESSION_COOKIE not in client.cookies


def test_clickhouse_down_gives_an_error_page_not_a_stack_trace() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app, _, _ = build_app(ClickHouseSettings(url=f"http://127.0.0.1:{port}", connect_timeout_s=1))
    client = TestClient(app)  # no lifespan: the control plane cannot load
    page = client.get("/admin/login")
    response = client.post("/admin/login", data={"token": TOKEN, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 502 and "unavailable" in response.text
    assert "Traceback" not in response.text
