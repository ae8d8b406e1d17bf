"""The panel's warehouse-source flow in a real browser: choose ClickHouse, fix the form's errors,
test-run, publish with confirmation, see the runs. Screenshots: ``test-artifacts/panel-sources/``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from core.settings import ClickHouseSettings, KafkaSettings
from tests.e2e.conftest import ADMIN_TOKEN, IngressServer, serving_ingress
from tests.e2e.test_panel_flow import Shots
from tests.integration.warehouse.conftest import ENCRYPTION_KEY, PASSWORD
from tests.integration.warehouse.test_clickhouse_source import QUERY, Warehouse

expect.set_options(timeout=15_000)


@pytest.fixture
def warehouse_ingress(
    kafka_settings: KafkaSettings, clickhouse_settings: ClickHouseSettings, tmp_path: Path
) -> Iterator[IngressServer]:
    warehouse_env = {
        "QUIVLY_WAREHOUSE_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "QUIVLY_WAREHOUSE_TICK_S": "0.3",
        "QUIVLY_WAREHOUSE_MIN_INTERVAL_S": "1",
        "QUIVLY_WAREHOUSE_LEASE_SETTLE_S": "0.05",
    }
    log_path = tmp_path / "ingress.log"
    with serving_ingress(kafka_settings, clickhouse_settings, log_path, warehouse_env) as server:
        yield server


@pytest.fixture
def shots_folder(artifacts_dir: Path) -> Path:
    folder = artifacts_dir / "panel-sources"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


@pytest.mark.browser
@pytest.mark.kafka
@pytest.mark.clickhouse
def test_warehouse_source_flow(
    warehouse_ingress: IngressServer, browser_page: Page, shots_folder: Path, clickhouse_server_url: str
) -> None:
    page, base = browser_page, warehouse_ingress.base_url
    shots = Shots(page, shots_folder)
    warehouse = Warehouse(clickhouse_server_url)
    try:
        stamp = datetime(2026, 11, 25, 12, tzinfo=UTC)
        warehouse.add(
            ("sf-1", "api_calls", 3, stamp, "", stamp),
            ("ghost-7", "api_calls", 1, stamp, "", stamp),
            ("sf-1", "", 2, stamp, "", stamp),
        )
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        with httpx.Client(base_url=f"{base}/admin/v1", headers=headers, timeout=30) as admin:
            org_id = admin.post("/orgs", json={"name": "Hooli"}).json()["org_id"]
            customers = [{"customer_id": "hooli", "external_ids": [{"source": "crm", "id": "sf-1"}]}]
            admin.put(f"/orgs/{org_id}/customers", json={"customers": customers}).raise_for_status()

        page.goto(f"{base}/admin/login")
        page.fill("#token", ADMIN_TOKEN)
        page.click("button:has-text('Sign in')")
        page.goto(f"{base}/admin/orgs/{org_id}/sources")
        expect(page.locator("#choose-push_api")).to_be_visible()
        expect(page.locator("#choose-bigquery")).to_be_visible()
        expect(page.locator("#choose-snowflake")).to_be_visible()
        shots.take("source-choice")

        page.click("#choose-clickhouse")
        page.fill("#interval-s", "1")
        page.fill("#lookback-s", "60")
        page.click("#create-source")
        expect(page.locator("#connection-url-error")).to_contain_text("Required")
        expect(page.locator("#query-error")).to_be_visible()
        shots.take("form-errors-next-to-fields")

        page.fill("#connection-url", "not a url")
        page.fill("#source-name", "Usage from ClickHouse")
        page.fill("#source-query", QUERY)
        page.fill("#connection-password", PASSWORD)
        page.click("#create-source")
        expect(page.locator("#connection-url-error")).to_contain_text("http")
        shots.take("form-api-error-next-to-field")

        page.fill("#connection-url", warehouse.url)
        page.fill("#connection-database", warehouse.database)
        page.fill("#connection-password", PASSWORD)
        page.click("#create-source")
        expect(page.locator(".status")).to_have_attribute("data-status", "draft")
        expect(page.locator("#connection-password")).to_have_attribute("placeholder", "********")
        shots.take("source-created-draft")

        page.click("#test-run-button")
        expect(page.locator("#report-matched")).to_have_text("1")
        expect(page.locator("#report-unmatched-ids")).to_have_text("ghost-7")
        expect(page.locator("#invalid-rows")).to_contain_text("metric_key")
        shots.take("test-run-report")

        page.click("#publish-button")
        expect(page.locator("#confirm-error")).to_be_visible()
        page.check("#confirm-publish")
        page.click("#publish-button")
        expect(page.locator(".status")).to_have_attribute("data-status", "published")
        shots.take("published")

        deadline = time.monotonic() + 30
        while page.locator("#runs-table .run-succeeded").count() == 0:
            assert time.monotonic() < deadline, "no succeeded run shown"
            time.sleep(0.5)
            page.reload()
        expect(page.locator("#runs-table .run-succeeded").first).to_contain_text("1")
        shots.take("runs")
        assert PASSWORD not in page.content()
    finally:
        warehouse.drop()
