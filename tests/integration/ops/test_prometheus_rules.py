"""The alert rules and the compose scrape config, checked by Debian's promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.ops.stack import REPO_ROOT, promtool_binary

pytestmark = pytest.mark.prometheus

RULES_DIR = REPO_ROOT / "infra" / "prometheus"


def _promtool(*args: str, cwd: Path = RULES_DIR) -> str:
    done = subprocess.run(
        [promtool_binary(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_alert_rules_are_valid() -> None:
    output = _promtool("check", "rules", "alerts.yml")
    assert "SUCCESS: 6 rules found" in output


def test_alert_rules_fire_on_their_unit_test_series() -> None:
    assert "SUCCESS" in _promtool("test", "rules", "alerts.test.yml")


def test_the_compose_scrape_config_is_valid_and_scrapes_every_component() -> None:
    output = _promtool("check", "config", "prometheus.yml")
    assert "is valid prometheus config file syntax" in output
    config = (RULES_DIR / "prometheus.yml").read_text()
    for job in ("quivly-ingress", "quivly-query", "quivly-streams", "quivly-gateway"):
        assert f"job_name: {job}" in config
