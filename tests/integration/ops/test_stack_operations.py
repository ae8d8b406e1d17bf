"""The operations endpoints of a running local stack, scraped by a real Prometheus.

One stack (``quivly dev`` on free ports) for the module: every process answers ``/health/*`` and
``/metrics`` on its own port and never through the public URL; traffic sent through the public
URL shows up, exactly, in PromQL over the request counters, the event outcomes and the freshness
histogram; the JSON logs carry the request ID.
"""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from tests.integration.ops.stack import LocalStack, Prometheus

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse, pytest.mark.prometheus, pytest.mark.slow]

PUSHES = 3
EVENTS_PER_PUSH = 100
WRITTEN = PUSHES * EVENTS_PER_PUSH


def _events(push: int) -> list[dict[str, object]]:
    return [
        {"external_customer_id": "0015g00000ABC", "metric_key": f"ops_{push}_{index}", "value": index}
        for index in range(EVENTS_PER_PUSH)
    ]


def test_every_process_answers_health_and_metrics_on_its_own_port_only(stack: LocalStack) -> None:
    expected_checks = {
        "quivly-ingress": {"kafka", "clickhouse", "control_plane"},
        "quivly-query": {"clickhouse"},
        "quivly-streams": {"kafka", "clickhouse", "table_state"},
        "quivly-gateway": {"ingress", "query"},
    }
    for job, target in stack.targets.items():
        live = httpx.get(f"http://{target}/health/live", timeout=10)
        assert live.status_code == 200 and live.json() == {"status": "ok"}, job
        ready = httpx.get(f"http://{target}/health/ready", timeout=10)
        assert ready.status_code == 200, (job, ready.text)
        assert ready.json()["status"] == "ok"
        assert set(ready.json()["checks"]) == expected_checks[job]
        assert set(ready.json()["checks"].values()) == {"ok"}
        metrics = httpx.get(f"http://{target}/metrics", timeout=10)
        assert metrics.status_code == 200 and "quivly_ready" in metrics.text, job
        assert live.headers["x-request-id"]
    for path in ("/health/live", "/health/ready", "/metrics"):
        public = httpx.get(stack.base_url + path, timeout=10)
        assert public.status_code == 404, path


def test_prometheus_sees_every_target_and_the_traffic_sent(stack: LocalStack, prometheus: Prometheus) -> None:
    # Scraped before the traffic, so rates and increases see it arrive.
    assert prometheus.wait_for('count(up{job=~"quivly-.*"} == 1)', 4) == 4, prometheus.query("up")
    for push in range(PUSHES):
        answer = stack.push(_events(push), request_id=f"ops-test-{push}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["inserted"] == EVENTS_PER_PUSH
        assert answer.headers["x-request-id"] == f"ops-test-{push}"
    unmatched = stack.push([{"external_customer_id": "nobody", "metric_key": "ops_x", "value": 1}])
    assert unmatched.status_code == 422
    invalid = stack.push([{"external_customer_id": "0015g00000ABC", "metric_key": "ops_y", "value": "x"}])
    assert invalid.status_code == 422

    assert prometheus.wait_for('count(quivly_ready{job=~"quivly-.*"} == 1)', 4) == 4
    assert prometheus.wait_for('sum(quivly_ingress_events_total{outcome="written"})', WRITTEN) == WRITTEN
    assert prometheus.wait_for('sum(quivly_ingress_events_total{outcome="unmatched"})', 1) == 1
    assert prometheus.wait_for('sum(quivly_ingress_events_total{outcome="invalid"})', 1) == 1
    pushes_ok = (
        'sum(quivly_http_requests_total{job="quivly-ingress", route="/v1/usage/events", status="200"})'
    )
    assert prometheus.wait_for(pushes_ok, PUSHES) == PUSHES
    pushes_422 = (
        'sum(quivly_http_requests_total{job="quivly-ingress", route="/v1/usage/events", status="422"})'
    )
    assert prometheus.wait_for(pushes_422, 2) == 2
    through_gateway = 'sum(quivly_http_requests_total{job="quivly-gateway", route="ingress", status="200"})'
    assert (
        prometheus.wait_for(through_gateway, PUSHES) or 0
    ) >= PUSHES  # the demo set-up went through it too
    # Every row the pushes wrote reached ClickHouse and was measured.
    rows = "sum(quivly_streams_freshness_seconds_count)"
    assert prometheus.wait_for(rows, WRITTEN, timeout_s=60) == WRITTEN
    applied = 'sum(quivly_streams_records_total{outcome="applied"})'
    assert prometheus.wait_for(applied, WRITTEN) == WRITTEN
    p99 = prometheus.scalar(
        "histogram_quantile(0.99, sum by (le) (increase(quivly_streams_freshness_seconds_bucket[5m])))"
    )
    assert p99 is not None and 0 < p99 < 60
    lag = prometheus.query("quivly_streams_consumer_lag")
    assert {sample["metric"]["partition"] for sample in lag} == {str(p) for p in range(6)}
    assert prometheus.wait_for("sum(quivly_streams_consumer_lag)", 0) == 0


def test_json_logs_carry_the_request_id(stack: LocalStack) -> None:
    answer = stack.push(_events(0)[:1], request_id="ops-log-check")
    assert answer.status_code == 200
    log = stack.data_dir / "logs" / "ingress.log"
    deadline = time.monotonic() + 10
    lines: list[dict[str, object]] = []
    while time.monotonic() < deadline and not lines:
        parsed = [orjson.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        lines = [line for line in parsed if line.get("request_id") == "ops-log-check"]
        time.sleep(0.2)
    assert lines, log.read_text()[-2000:]
    assert lines[0]["service"] == "ingress" and lines[0]["logger"] == "quivly.access"
    assert "POST /v1/usage/events 200" in str(lines[0]["message"])
    for process in ("ingress", "query", "streams", "gateway", "clickhouse"):
        text = (stack.data_dir / "logs" / f"{process}.log").read_text()
        lines = [line for line in text.splitlines() if line.strip()]
        assert lines, process
        for line in lines:  # every line of every process is one JSON object
            assert isinstance(orjson.loads(line), dict), (process, line)
