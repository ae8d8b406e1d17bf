"""The panel's Usage page end to end: a real browser against the real ingress app and ClickHouse.

The organization and its customers go through the admin API; the stored values are written
straight into ClickHouse (the pipeline that writes them is covered by tests/integration/query).
Screenshots go to ``test-artifacts/panel/usage-*.png``; one is copied to ``docs/img/`` by hand.
"""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from core.clickhouse import make_client
from core.names import USAGE_EVENT_COLUMNS, USAGE_EVENTS
from core.records import ReplaceKey
from core.settings import ClickHouseSettings
from tests.e2e.conftest import IngressServer

CUSTOMERS = {"aviato": 1.0, "hooli": 2.0, "pied-piper": 3.0}
expect.set_options(timeout=10_000)


def seed(clickhouse: ClickHouseSettings, org_id: str) -> None:
    """Daily api_calls of three customers from January to June 2026 (value = customer weight x day
    of month), plus a replaced value, and the metric sightings the form lists."""
    versions = itertools.count(1)
    rows = []
    day = datetime(2026, 1, 1, tzinfo=UTC)
    while day < datetime(2026, 7, 1, tzinfo=UTC):
        for customer, weight in CUSTOMERS.items():
            rows.append(_row(org_id, customer, "api_calls", day, weight * day.day, next(versions)))
        day += timedelta(days=1)
    rows.append(_row(org_id, "hooli", "api_calls", datetime(2026, 3, 31, tzinfo=UTC), 500.0, next(versions)))
    client = make_client(clickhouse)
    try:
        client.insert(USAGE_EVENTS, rows[:-1], column_names=list(USAGE_EVENT_COLUMNS))
        client.insert(USAGE_EVENTS, rows[-1:], column_names=list(USAGE_EVENT_COLUMNS))  # unmerged
        now = datetime.now(UTC)
        for metric in ("api_calls", "seats"):
            client.insert(
                "metric_sightings",
                [[org_id, metric, now, now]],
                column_names=["org_id", "metric_key", "first_seen_at", "last_seen_at"],
            )
    finally:
        client.close()


def _row(org_id: str, customer: str, metric: str, day: datetime, value: float, version: int) -> list[object]:
    key = ReplaceKey(org_id, customer, metric, "daily", day.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return [
        org_id, customer, metric, "daily", day, key.event_id(), f"ext-{customer}", "credit", value, day,
        "{}", datetime.now(UTC), version, 0, version,
    ]  # fmt: skip


@pytest.mark.browser
@pytest.mark.kafka
@pytest.mark.clickhouse
def test_usage_page(
    ingress_server: IngressServer,
    clickhouse_settings: ClickHouseSettings,
    browser_page: Page,
    artifacts_dir: Path,
) -> None:
    shots = artifacts_dir / "panel"
    shots.mkdir(parents=True, exist_ok=True)
    base = ingress_server.base_url
    admin = {"Authorization": f"Bearer {ingress_server.admin_token}"}
    with httpx.Client(base_url=base, headers=admin, timeout=10) as api:
        org_id = api.post("/admin/v1/orgs", json={"name": "Usage Demo"}).json()["org_id"]
        customers = [
            {"customer_id": c, "name": c.replace("-", " ").title(), "external_ids": []} for c in CUSTOMERS
        ]
        assert api.put(f"/admin/v1/orgs/{org_id}/customers", json={"customers": customers}).status_code == 200
    seed(clickhouse_settings, org_id)

    page = browser_page
    page.goto(f"{base}/admin/")
    page.fill("#token", ingress_server.admin_token)
    page.click("button:has-text('Sign in')")
    page.goto(f"{base}/admin/orgs/{org_id}")
    page.click("nav.tabs a:has-text('Usage')")
    expect(page.get_by_role("heading", name="Usage", exact=True)).to_be_visible()

    # Every customer, api_calls by month over the first half of 2026.
    page.select_option("#metric", ["api_calls"])
    page.fill("#from", "2026-01-01")
    page.fill("#to", "2026-07-01")
    page.select_option("#window", "month")
    page.click("#show-usage")
    expect(page.locator("#series-count")).to_have_text("3 of 3 series")
    expect(page.locator("#usage-chart polyline")).to_have_count(3)
    rows = page.locator("#usage-table tbody tr")
    expect(rows).to_have_count(18)
    january_hooli = page.locator("#usage-table tbody tr", has_text="hooli").first
    expect(january_hooli).to_contain_text(str(2 * sum(range(1, 32))))  # 992
    page.screenshot(path=str(shots / "usage-per-customer.png"), full_page=True)

    # Totals across customers with the maximum of each customer, by quarter.
    page.check("input[name=group][value=total]")
    page.select_option("#rollup", "max")
    page.select_option("#window", "quarter")
    page.click("#show-usage")
    expect(page.locator("#usage-table tbody tr")).to_have_count(2)
    first_quarter = page.locator("#usage-table tbody tr").first
    expect(first_quarter).to_contain_text(str(31 * 1 + 500 + 31 * 3))  # hooli's replaced 500 counts
    page.screenshot(path=str(shots / "usage-totals.png"), full_page=True)

    # The CSV download holds the same numbers.
    with page.expect_download() as download_info:
        page.click("#download-csv")
    text = Path(download_info.value.path()).read_text(encoding="utf-8")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == [
        "metric_key",
        "customer_id",
        "properties",
        "rollup",
        "start",
        "end",
        "value",
        "periods",
    ]
    assert table[1] == [
        "api_calls",
        "",
        "",
        "max",
        "2026-01-01T00:00:00Z",
        "2026-04-01T00:00:00Z",
        "624",
        "270",
    ]

    # A window finer than the values: the message sits next to the field.
    page.select_option("#window", "hour")
    page.click("#show-usage")
    expect(page.locator("#window_size-error")).to_contain_text("finer than daily values")
    page.screenshot(path=str(shots / "usage-validation.png"), full_page=True)
