"""The Usage page's pure parts: the form's query and the SVG chart."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.datastructures import QueryParams

from core.usage_rollup import validate_usage_query
from ingress.panel.usage import form_values, query_body
from ingress.panel.usage_chart import ChartSeries, nice_ceiling, render_chart, short_label


def test_the_form_defaults_to_the_last_twelve_months_by_month_per_customer() -> None:
    values = form_values(QueryParams(""), today=datetime(2026, 12, 15, tzinfo=UTC))
    assert (values["from"], values["to"]) == ("2026-01-01", "2027-01-01")
    body = query_body(values)
    assert body == {
        "from": "2026-01-01T00:00:00Z",
        "to": "2027-01-01T00:00:00Z",
        "granularity": "daily",
        "window_size": "month",
        "timezone": "UTC",
        "group_by": ["customer"],
        "limit": 100,
        "offset": 0,
    }
    assert validate_usage_query(body).window_size.value == "month"


def test_the_form_becomes_the_usage_query() -> None:
    params = QueryParams(
        "metric=api_calls&metric=seats&customer=hooli&group=total&granularity=hourly&window=day"
        "&timezone=Europe/Berlin&from=2026-03-01&to=2026-04-01&rollup=max&offset=100"
    )
    body = query_body(form_values(params))
    assert body["metric_keys"] == ["api_calls", "seats"] and body["customer_ids"] == ["hooli"]
    assert body["group_by"] == [] and body["rollup"] == "max" and body["offset"] == 100
    assert body["timezone"] == "Europe/Berlin" and body["window_size"] == "day"


def test_the_chart_is_an_svg_with_escaped_labels_and_no_inline_style() -> None:
    series = [
        ChartSeries("api_calls · <b>", [("2026-01-01T00:00:00Z", 5.0), ("2026-02-01T00:00:00Z", 7.5)]),
        ChartSeries("seats", [("2026-02-01T00:00:00Z", 1.0)]),
    ]
    svg = render_chart(series, "Usage")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 3
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert "style=" not in svg and "http://www.w3.org/2000/svg" in svg  # the namespace, not an asset


def test_axis_helpers() -> None:
    assert [nice_ceiling(v) for v in (0, 0.3, 7, 10, 11, 2400)] == [1.0, 0.5, 10, 10, 20, 5000]
    assert short_label("2026-06-01T00:00:00Z") == "2026-06-01"
    assert short_label("2026-03-28T23:00:00Z") == "2026-03-28 23:00"


def test_window_starts_are_labelled_in_the_query_time_zone() -> None:
    # Berlin's November starts at 23:00 UTC the day before; its March 30 at 22:00 UTC (summer time).
    assert short_label("2026-10-31T23:00:00Z", "Europe/Berlin") == "2026-11-01"
    assert short_label("2026-03-29T22:00:00Z", "Europe/Berlin") == "2026-03-30"
    assert short_label("2026-03-29T10:00:00Z", "Europe/Berlin") == "2026-03-29 12:00"
    svg = render_chart([ChartSeries("api_calls", [("2026-10-31T23:00:00Z", 1.0)])], "Usage", "Europe/Berlin")
    assert ">2026-11-01<" in svg and "2026-10-31" not in svg
