"""The panel's pages against an in-memory admin API (the real one is covered by tests/e2e)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from ingress.panel.security import SESSION_COOKIE
from tests.unit.panel.stub_admin import StubState, build_app

TOKEN = "admin-secret"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def sign_in(client: TestClient) -> str:
    page = client.get("/admin/login")
    response = client.post("/admin/login", data={"token": TOKEN, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 200 and "Organizations" in response.text
    return csrf_of(response.text)


@pytest.fixture
def state() -> StubState:
    return StubState()


@pytest.fixture
def client(state: StubState) -> TestClient:
    return TestClient(build_app(state, TOKEN))


def test_pages_redirect_to_sign_in_and_fragment_says_401(client: TestClient) -> None:
    response = client.get("/admin/orgs", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"
    assert client.get("/admin/orgs/org-1/push-calls").status_code == 401
    assert client.get("/admin/", follow_redirects=False).headers["location"] == "/admin/login"


def test_sign_in_sets_a_strict_httponly_expiring_cookie(client: TestClient) -> None:
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


def test_sign_in_without_login_csrf_is_rejected(client: TestClient) -> None:
    response = client.post("/admin/login", data={"token": TOKEN, "csrf_token": "forged"})
    assert response.status_code == 403
    assert SESSION_COOKIE not in client.cookies


def test_rotated_admin_token_signs_everyone_out(state: StubState) -> None:
    first = TestClient(build_app(state, TOKEN))
    sign_in(first)
    second = TestClient(build_app(state, "rotated"))
    second.cookies.set(SESSION_COOKIE, first.cookies[SESSION_COOKIE], path="/admin")
    assert second.get("/admin/orgs", follow_redirects=False).status_code == 303


def test_post_without_csrf_token_changes_nothing(client: TestClient, state: StubState) -> None:
    sign_in(client)
    response = client.post("/admin/orgs", data={"name": "Acme", "csrf_token": "forged"})
    assert response.status_code == 403
    assert state.orgs == {}


def test_org_creation_validates_next_to_the_field(client: TestClient, state: StubState) -> None:
    csrf = sign_in(client)
    empty = client.post("/admin/orgs", data={"name": "  ", "csrf_token": csrf})
    assert empty.status_code == 422 and 'id="name-error"' in empty.text
    taken = client.post("/admin/orgs", data={"name": "taken", "csrf_token": csrf})
    assert taken.status_code == 422 and "Name is taken." in taken.text
    created = client.post("/admin/orgs", data={"name": "Acme", "csrf_token": csrf})
    assert created.status_code == 200 and "Organization created" in created.text
    assert state.orgs == {"org-1": "Acme"}
    assert "Acme" in client.get("/admin/orgs").text


def test_configuration_key_and_publish_flow(client: TestClient, state: StubState) -> None:
    csrf = sign_in(client)
    client.post("/admin/orgs", data={"name": "Acme", "csrf_token": csrf})
    no_source = client.post("/admin/orgs/org-1/configuration", data={"csrf_token": csrf})
    assert no_source.status_code == 422 and "Choose a data source." in no_source.text
    page = client.post("/admin/orgs/org-1/configuration", data={"source": "push_api", "csrf_token": csrf})
    assert "Draft" in page.text and "Push API" in page.text

    redirect = client.post("/admin/orgs/org-1/api-key", data={"csrf_token": csrf}, follow_redirects=False)
    key = state.keys["org-1"]
    assert redirect.status_code == 303 and key not in redirect.headers["location"]
    assert "HttpOnly" in redirect.headers["set-cookie"] and "Max-Age=120" in redirect.headers["set-cookie"]
    keyed = client.get(redirect.headers["location"])
    assert keyed.headers["cache-control"] == "no-store"
    assert keyed.text.count(key) == 2  # the key box and the curl example
    assert "previous key stop working" in keyed.text
    later = client.get("/admin/orgs/org-1").text  # shown once; reloading generates nothing
    assert key not in later and "&lt;YOUR_API_KEY&gt;" in later and len(state.keys) == 1

    unconfirmed = client.post("/admin/orgs/org-1/publish", data={"csrf_token": csrf})
    assert unconfirmed.status_code == 422 and 'id="confirm-error"' in unconfirmed.text
    assert state.configurations["org-1"]["status"] == "draft"
    published = client.post("/admin/orgs/org-1/publish", data={"confirm": "yes", "csrf_token": csrf})
    assert 'data-status="published"' in published.text
    assert state.configurations["org-1"]["status"] == "published"


def test_metrics_rollup_and_verification_fragment(client: TestClient, state: StubState) -> None:
    csrf = sign_in(client)
    client.post("/admin/orgs", data={"name": "Acme", "csrf_token": csrf})
    client.post("/admin/orgs/org-1/configuration", data={"source": "push_api", "csrf_token": csrf})
    state.metrics["org-1"] = {
        "api_calls": {
            "metric_key": "api_calls",
            "rollup": "sum",
            "first_seen_at": "2026-06-11T09:00:00Z",
            "last_seen_at": "2026-06-11T10:00:00Z",
        }
    }
    state.calls["org-1"] = [
        {
            "at": "2026-06-11T10:00:00Z",
            "mode": "test",
            "status_code": 200,
            "summary": {"total": 2, "matched": 1, "unmatched": 1},
            "unmatched_external_ids": ["ghost-42"],
        }
    ]
    page = client.get("/admin/orgs/org-1").text
    assert "2026-06-11 09:00:00 UTC" in page and "ghost-42" in page
    bad = client.post("/admin/orgs/org-1/metrics/api_calls", data={"rollup": "median", "csrf_token": csrf})
    assert bad.status_code == 422 and 'id="rollup-api_calls-error"' in bad.text
    saved = client.post("/admin/orgs/org-1/metrics/api_calls", data={"rollup": "max", "csrf_token": csrf})
    assert "Rollup saved." in saved.text and state.metrics["org-1"]["api_calls"]["rollup"] == "max"
    fragment = client.get("/admin/orgs/org-1/push-calls")
    assert fragment.status_code == 200 and "verify-only" in fragment.text and "ghost-42" in fragment.text
    assert "<html" not in fragment.text


def test_customers_csv_upload_and_search(client: TestClient, state: StubState) -> None:
    csrf = sign_in(client)
    client.post("/admin/orgs", data={"name": "Acme", "csrf_token": csrf})
    csv = (
        b"customer_id,name,source,external_id\n"
        b"pied-piper,Pied Piper,salesforce,0015g\nhooli,Hooli,hubspot,4711\n,,hubspot,zz\n"
    )
    files = {"file": ("customers.csv", csv, "text/csv")}
    page = client.post("/admin/orgs/org-1/customers", data={"csrf_token": csrf}, files=files)
    assert page.status_code == 200
    assert "2 customer(s) with 2 external ID(s) from 3 row(s); 1 row(s) skipped" in page.text
    assert set(state.customers["org-1"]) == {"pied-piper", "hooli"}
    found = client.get("/admin/orgs/org-1/customers", params={"q": "4711"}).text
    assert '<td class="mono">hooli</td>' in found and '<td class="mono">pied-piper</td>' not in found
    missing = client.post("/admin/orgs/org-1/customers", data={"csrf_token": csrf})
    assert missing.status_code == 422 and 'id="file-error"' in missing.text
    conflict = client.post(
        "/admin/orgs/org-1/customers",
        data={"csrf_token": csrf},
        files={"file": ("c.csv", b"customer_id,name,source,external_id\nc,C,sf,conflict\n", "text/csv")},
    )
    assert conflict.status_code == 422 and "used by another customer" in conflict.text


def test_unknown_org_is_a_404_page(client: TestClient) -> None:
    sign_in(client)
    response = client.get("/admin/orgs/missing")
    assert response.status_code == 404 and "does not exist" in response.text


def test_static_assets_are_served_locally(client: TestClient) -> None:
    assert client.get("/admin/static/panel.css").headers["content-type"].startswith("text/css")
    assert "setInterval" in client.get("/admin/static/panel.js").text
    assert client.get("/admin/static/../router.py").status_code == 404


def test_sign_out(client: TestClient) -> None:
    csrf = sign_in(client)
    response = client.post("/admin/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/admin/orgs", follow_redirects=False).status_code == 303


def test_sign_out_revokes_the_session_even_for_a_kept_copy_of_the_cookie(client: TestClient) -> None:
    csrf = sign_in(client)
    kept = client.cookies[SESSION_COOKIE]
    client.post("/admin/logout", data={"csrf_token": csrf}, follow_redirects=False)
    client.cookies.set(SESSION_COOKIE, kept, path="/admin")
    assert client.get("/admin/orgs", follow_redirects=False).headers["location"] == "/admin/login"


def test_wrong_tokens_in_a_row_are_throttled(client: TestClient) -> None:
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


def test_a_broken_admin_api_gives_an_error_page_not_a_stack_trace(
    client: TestClient, state: StubState
) -> None:
    sign_in(client)
    state.broken = True
    response = client.get("/admin/orgs")
    assert response.status_code == 502
    assert "could not be shown" in response.text and "Traceback" not in response.text


def test_remove_an_external_id(client: TestClient, state: StubState) -> None:
    csrf = sign_in(client)
    client.post("/admin/orgs", data={"name": "Acme", "csrf_token": csrf})
    state.customers["org-1"] = {
        "hooli": {
            "customer_id": "hooli",
            "name": "Hooli",
            "external_ids": [{"source": "hubspot", "id": "4711"}],
        }
    }
    page = client.get("/admin/orgs/org-1/customers").text
    assert 'aria-label="Remove hubspot 4711"' in page
    fields = {"customer_id": "hooli", "source": "hubspot", "id": "4711", "csrf_token": csrf}
    forged = client.post("/admin/orgs/org-1/customers/remove-external-id", data={**fields, "csrf_token": "x"})
    assert forged.status_code == 403 and state.customers["org-1"]["hooli"]["external_ids"]
    removed = client.post("/admin/orgs/org-1/customers/remove-external-id", data=fields)
    assert "External ID removed." in removed.text
    assert state.customers["org-1"]["hooli"]["external_ids"] == []
    again = client.post("/admin/orgs/org-1/customers/remove-external-id", data=fields)
    assert again.status_code == 422 and "External ID not found" in again.text
