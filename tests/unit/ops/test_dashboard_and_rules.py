"""The Grafana dashboard, the alert rules and the compose file only use metrics the services export."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import core.ops.metrics
import ingress.metrics
import streams.metrics

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "infra" / "grafana" / "dashboards" / "quivly.json"
ALERTS = ROOT / "infra" / "prometheus" / "alerts.yml"
COMPOSE = ROOT / "infra" / "docker" / "docker-compose.yml"
METRIC_NAME = re.compile(r"\bquivly_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_series_names() -> set[str]:
    """Every series name the ingress, streams and HTTP metric modules export (``_total``, ``_bucket``...)."""
    assert core.ops.metrics and ingress.metrics and streams.metrics  # imported: registered
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("quivly_"):
            names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_service_metric_set_is_complete() -> None:
    names = exported_series_names()
    for name in (
        "quivly_http_requests_total",
        "quivly_http_request_duration_seconds_bucket",
        "quivly_ready",
        "quivly_ingress_events_total",
        "quivly_ingress_produce_duration_seconds_bucket",
        "quivly_ingress_produce_batch_records_bucket",
        "quivly_ingress_idempotency_replays_total",
        "quivly_ingress_rate_limited_total",
        "quivly_streams_records_total",
        "quivly_streams_batch_records_bucket",
        "quivly_streams_insert_duration_seconds_bucket",
        "quivly_streams_insert_retries_total",
        "quivly_streams_consumer_lag",
        "quivly_streams_table_restore_seconds_bucket",
        "quivly_streams_freshness_seconds_bucket",
        "quivly_streams_freshness_seconds_recent",
    ):
        assert name in names, name


def test_every_dashboard_query_uses_exported_metrics_only() -> None:
    exported = exported_series_names()
    expressions = dashboard_expressions()
    used = {name for expr in expressions for name in METRIC_NAME.findall(expr)}
    assert used, "the dashboard queries no quivly metric"
    assert used <= exported, used - exported
    # and it shows the figures an operator looks at first
    for name in ("quivly_streams_freshness_seconds_bucket", "quivly_streams_consumer_lag", "quivly_ready"):
        assert name in used


def test_the_dashboard_is_provisionable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "quivly-overview"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "quivly-prometheus"
        assert panel["targets"], panel["title"]
    datasource = (ROOT / "infra" / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    assert "uid: quivly-prometheus" in datasource


def test_every_alert_rule_uses_exported_metrics_only() -> None:
    used = set(METRIC_NAME.findall(ALERTS.read_text()))
    assert used and used <= exported_series_names(), used - exported_series_names()


def test_compose_runs_prometheus_and_grafana_with_the_repository_files() -> None:
    compose = COMPOSE.read_text()
    for service in ("prometheus:", "grafana:"):
        assert f"\n  {service}" in compose
    for mounted in re.findall(r"- (\.\./[^:]+):", compose):
        assert (COMPOSE.parent / mounted).exists(), mounted
    assert "../prometheus/alerts.yml" in compose and "../grafana/dashboards" in compose
