from __future__ import annotations

from infra.status import ComponentStatus, StatusSettings, parse_metrics, streams_figures

WORKER_1 = """
# TYPE quivly_streams_consumer_lag gauge
quivly_streams_consumer_lag{partition="1"} 5.0
quivly_streams_consumer_lag{partition="0"} 0.0
# TYPE quivly_streams_freshness_seconds_recent gauge
quivly_streams_freshness_seconds_recent{quantile="0.5"} 0.2
quivly_streams_freshness_seconds_recent{quantile="0.99"} 0.7
# TYPE quivly_streams_records counter
quivly_streams_records_total{outcome="applied"} 100.0
quivly_streams_records_total{outcome="dead_lettered"} 2.0
"""
WORKER_2 = """
# TYPE quivly_streams_consumer_lag gauge
quivly_streams_consumer_lag{partition="10"} 7.0
# TYPE quivly_streams_freshness_seconds_recent gauge
quivly_streams_freshness_seconds_recent{quantile="0.5"} 0.3
quivly_streams_freshness_seconds_recent{quantile="0.99"} 0.9
# TYPE quivly_streams_records counter
quivly_streams_records_total{outcome="applied"} 50.0
quivly_streams_records_total{outcome="dead_lettered"} 1.0
"""


def _worker(name: str, text: str) -> ComponentStatus:
    return ComponentStatus(name, "http://w", metrics=parse_metrics(text))


def test_figures_add_up_the_workers_and_keep_the_worst_freshness() -> None:
    figures = streams_figures([_worker("streams-0", WORKER_1), _worker("streams-1", WORKER_2)])
    assert figures.lag == {"0": 0, "1": 5, "10": 7}  # partitions in numeric order
    assert figures.freshness_p50_s == 0.3 and figures.freshness_p99_s == 0.9
    assert figures.dead_letters == 3 and figures.applied == 150


def test_a_worker_without_rows_has_no_freshness() -> None:
    figures = streams_figures([_worker("streams", "# TYPE x gauge\nx 1.0\n")])
    assert figures.freshness_p99_s is None and figures.lag == {}


def test_components_default_to_the_local_run_and_take_several_workers() -> None:
    default = dict(StatusSettings().components())
    assert default["ingress"] == "http://127.0.0.1:8001" and default["gateway"] == "http://127.0.0.1:8010"
    several = StatusSettings(streams_url="http://a:6066, http://b:6066/").components()
    assert [name for name, _ in several] == ["ingress", "query", "streams-0", "streams-1", "gateway"]
    assert several[3] == ("streams-1", "http://b:6066")
