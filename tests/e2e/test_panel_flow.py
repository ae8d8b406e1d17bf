"""The configuration panel end to end: a real browser against the real ingress app.

Screenshots of every step go to ``test-artifacts/panel/`` (open them to see the flow).
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import IngressServer

CUSTOMERS_CSV = (
    "customer_id,name,source,external_id\n"
    "pied-piper,Pied Piper,salesforce,0015g00000ABC\n"
    "pied-piper,Pied Piper,hubspot,4711\n"
    "hooli,Hooli,salesforce,0015g00000HOO\n"
)
UNKNOWN_ID = "ghost-0042"
expect.set_options(timeout=10_000)


class Shots:
    def __init__(self, page: Page, folder: Path) -> None:
        self.page, self.folder, self.count = page, folder, 0

    def take(self, name: str) -> None:
        self.count += 1
        self.page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)


def parse_curl(curl: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """URL, headers and JSON body of the panel's curl example (as a shell would split it)."""
    tokens = shlex.split(curl.replace("\\\n", " "))
    assert tokens[0] == "curl"
    url, headers, body = "", {}, {}
    index = 1
    while index < len(tokens):
        token = tokens[index]
        if token in ("-X", "--request"):
            index += 1
        elif token in ("-H", "--header"):
            name, _, value = tokens[index + 1].partition(":")
            headers[name.strip()] = value.strip()
            index += 1
        elif token in ("-d", "--data", "--data-raw"):
            body = json.loads(tokens[index + 1])
            index += 1
        elif token.startswith("http"):
            url = token
        index += 1
    return url, headers, body


def push_until(curl: str, extra_ids: list[str], want_mode: str, timeout_s: float = 15) -> dict[str, Any]:
    """Runs the curl example (with more events for ``extra_ids``) until its answer has ``want_mode``."""
    url, headers, body = parse_curl(curl)
    template = body["events"][0]
    body["events"] += [{**template, "external_customer_id": external_id} for external_id in extra_ids]
    deadline = time.monotonic() + timeout_s
    while True:
        response = httpx.post(url, headers=headers, json=body, timeout=10)
        # A fresh key or a publish reaches the ingress directory within the poll interval.
        if response.status_code == 200 and response.json()["mode"] == want_mode:
            return response.json()
        assert time.monotonic() < deadline, f"no {want_mode} answer: {response.status_code} {response.text}"
        time.sleep(0.3)


def reload_until(page: Page, selector: str, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while page.locator(selector).count() == 0:
        assert time.monotonic() < deadline, f"{selector} never appeared"
        time.sleep(0.5)
        page.reload()


@pytest.mark.browser
@pytest.mark.kafka
@pytest.mark.clickhouse
def test_push_api_setup_flow(
    ingress_server: IngressServer, browser_page: Page, panel_artifacts: Path, tmp_path: Path
) -> None:
    page = browser_page
    shots = Shots(page, panel_artifacts)
    base = ingress_server.base_url

    # Sign in (a wrong token first: the error shows next to the field).
    page.goto(f"{base}/admin/")
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    page.fill("#token", "not-the-token")
    page.click("button:has-text('Sign in')")
    expect(page.locator("#token-error")).to_contain_text("not the admin token")
    shots.take("sign-in-error")
    page.fill("#token", ingress_server.admin_token)
    page.click("button:has-text('Sign in')")
    expect(page.get_by_role("heading", name="Organizations", exact=True)).to_be_visible()
    assert ingress_server.admin_token not in page.url
    cookie = next(c for c in page.context.cookies() if c["name"] == "quivly_panel_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > time.time()
    shots.take("organizations-empty")

    # Create an organization.
    page.click("button:has-text('Create organization')")
    expect(page.locator("#name-error")).to_be_visible()
    page.fill("#name", "Pied Piper Inc.")
    page.click("button:has-text('Create organization')")
    expect(page.get_by_role("heading", name="Pied Piper Inc.")).to_be_visible()
    shots.take("organization-created")

    # Create the configuration with Push API as the source: a draft.
    page.check("input[name=source][value=push_api]")
    page.click("button:has-text('Create configuration')")
    expect(page.locator(".status[data-status=draft]")).to_be_visible()
    shots.take("configuration-draft")

    # Register the customers and their external IDs with a CSV upload, then search.
    page.click("nav.tabs >> text=Customers")
    csv_path = tmp_path / "customers.csv"
    csv_path.write_text(CUSTOMERS_CSV)
    page.set_input_files("#file", str(csv_path))
    page.click("button:has-text('Upload')")
    expect(page.locator("#upload-summary")).to_contain_text(
        "2 customer(s) with 3 external ID(s) from 3 row(s)"
    )
    expect(page.locator("#customers-table")).to_contain_text("0015g00000ABC")
    shots.take("customers-uploaded")
    page.fill("input[name=q]", "hooli")
    page.press("input[name=q]", "Enter")
    expect(page.locator("#customers-table tbody tr")).to_have_count(1)
    shots.take("customers-search")
    # Hooli's ID is removed again: the test call below must report it as unmatched.
    page.click("button[aria-label='Remove salesforce 0015g00000HOO']")
    expect(page.locator(".alert-success")).to_contain_text("External ID removed.")
    expect(page.locator("#customers-table")).not_to_contain_text("0015g00000HOO")

    # Generate the key: shown once, with a warning, and filled into the curl example.
    page.click("nav.tabs >> text=Push API setup")
    expect(page.locator("#api-key")).to_contain_text("previous key stop working")
    page.click("#generate-key")
    api_key = page.locator("#api-key-value").inner_text().strip()
    assert api_key
    curl = page.locator("#curl-example").inner_text()
    assert api_key in curl and f"{base}/v1/usage/events" in curl
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.click("button[data-copy=curl-example]")
    assert page.evaluate("navigator.clipboard.readText()") == curl
    shots.take("api-key-and-curl")
    page.reload()  # the key is shown once, and a reload does not generate another one
    expect(page.locator("#api-key-value")).to_have_count(0)

    # Run the curl example from the test with every planned ID plus one nobody registered.
    report = push_until(curl, ["4711", "0015g00000HOO", UNKNOWN_ID], want_mode="test")
    assert report["summary"] == {"total": 4, "matched": 2, "unmatched": 2}
    # The verification view updates without a reload.
    calls = page.locator("#push-calls")
    expect(calls).to_contain_text(UNKNOWN_ID, timeout=10_000)
    expect(calls.locator("tr").nth(1)).to_contain_text("0015g00000HOO")
    expect(calls.locator("tr.call-test").first).to_contain_text("verify-only")
    shots.take("verification-test-call")

    # The discovered metric: change its rollup.
    reload_until(page, "form[data-metric=api_calls]")
    metric = page.locator("form[data-metric=api_calls]")
    metric.locator("select").select_option("max")
    metric.locator("button").click()
    expect(page.locator(".alert-success")).to_contain_text("Rollup saved.")
    expect(page.locator("form[data-metric=api_calls] select")).to_have_value("max")
    shots.take("metric-rollup")

    # Publish: the confirmation is required, then the status turns published.
    page.click("#publish-button")
    expect(page.locator("#confirm-error")).to_be_visible()
    shots.take("publish-needs-confirmation")
    page.check("#confirm-publish")
    page.click("#publish-button")
    expect(page.locator(".status[data-status=published]")).to_be_visible()
    shots.take("published")

    # A later call is live, and the view shows it without a reload.
    live = push_until(curl, [], want_mode="live")
    assert live["stored"] is True and live["inserted"] == 1
    expect(calls.locator("tr.call-live").first).to_contain_text("live", timeout=10_000)
    shots.take("verification-live-call")

    # Sign out: the pages need signing in again.
    page.click("button:has-text('Sign out')")
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    page.goto(f"{base}/admin/orgs")
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    shots.take("signed-out")
    assert shots.count == 13
