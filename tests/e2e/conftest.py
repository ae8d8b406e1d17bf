"""The whole ingress app as a uvicorn subprocess, and a headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from core.settings import ClickHouseSettings, KafkaSettings
from infra.processes import free_port, start_process, stop_process, wait_for_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_TOKEN = "e2e-admin-token"


@dataclass(frozen=True)
class IngressServer:
    base_url: str
    admin_token: str
    log_path: Path


@contextmanager
def serving_ingress(
    kafka: KafkaSettings, clickhouse: ClickHouseSettings, log_path: Path, extra_env: dict[str, str]
) -> Iterator[IngressServer]:
    """``quivly serve-ingress`` on a free port over the test's broker and ClickHouse, until the
    panel answers; ``extra_env`` adds the settings a test needs."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        "QUIVLY_CLICKHOUSE_URL": clickhouse.url,
        "QUIVLY_CLICKHOUSE_DATABASE": clickhouse.database,
        "QUIVLY_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "QUIVLY_KAFKA_USAGE_TOPIC": kafka.usage_topic,
        "QUIVLY_KAFKA_DEAD_LETTER_TOPIC": kafka.dead_letter_topic,
        "QUIVLY_ADMIN_TOKEN": ADMIN_TOKEN,
        "QUIVLY_PUBLIC_BASE_URL": base_url,
        "QUIVLY_CONTROL_POLL_INTERVAL_S": "0.3",
        **extra_env,
    }
    process: subprocess.Popen[bytes] = start_process(
        [sys.executable, "-m", "infra.cli", "serve-ingress", "--port", str(port)], log_path, env
    )
    try:
        wait_for_port(port, 30, process)
        _wait_until_ready(base_url)
        yield IngressServer(base_url, ADMIN_TOKEN, log_path)
    finally:
        stop_process(process)


@pytest.fixture
def ingress_server(
    kafka_settings: KafkaSettings, clickhouse_settings: ClickHouseSettings, tmp_path: Path
) -> Iterator[IngressServer]:
    flush_fast = {
        "QUIVLY_CONTROL_DISCOVERY_FLUSH_INTERVAL_S": "0.3",
        "QUIVLY_INGRESS_PUSH_CALLS_FLUSH_INTERVAL_S": "0.3",
    }
    with serving_ingress(kafka_settings, clickhouse_settings, tmp_path / "ingress.log", flush_fast) as server:
        yield server


def _wait_until_ready(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=5) as client:
        for _ in range(100):
            try:
                if client.get("/admin/login").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise TimeoutError("the ingress app did not serve the panel")


@pytest.fixture
def browser_page(artifacts_dir: Path) -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        context.set_default_timeout(15_000)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


@pytest.fixture
def panel_artifacts(artifacts_dir: Path) -> Path:
    folder = artifacts_dir / "panel"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder
