"""The panel's Usage page of an organization (``/admin/orgs/{org}/usage``) and its CSV download.

The form (a GET, so a view can be bookmarked) becomes a usage query body; it is validated and
answered by ``core.usage_rollup`` exactly like ``POST /v1/usage/query`` (one implementation), with
this page's own ClickHouse client (reads only). Metrics and customers for the form come from the
admin API like every other page's data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from core.clickhouse import SharedClient
from core.settings import ClickHouseSettings
from core.usage_rollup import (
    Rollup,
    Statement,
    UsageResult,
    UsageValidationError,
    WindowSize,
    run_usage_query,
    validate_usage_query,
)
from core.usage_table import COLUMNS, csv_text, usage_rows
from ingress.panel.usage_chart import ChartSeries, render_chart

if TYPE_CHECKING:
    from ingress.panel.router import Pages
    from ingress.panel.security import Session

GRANULARITIES = ("hourly", "daily", "weekly", "monthly")
CHART_SERIES = 10
PAGE_SERIES = 100
Handler = Callable[[Request, "Session"], Awaitable[Response]]
SignedIn = Callable[["Pages", Handler], Callable[[Request], Awaitable[Response]]]


class UsageReader:
    """Runs the usage statements on the page's own ClickHouse client (reads only)."""

    def __init__(self, clickhouse: ClickHouseSettings) -> None:
        self._client = SharedClient(clickhouse)

    def run(self, statement: Statement) -> Sequence[Sequence[Any]]:
        result = self._client.get().query(statement.sql, parameters=statement.parameters)
        return list(result.result_rows)


def form_values(params: Any, today: datetime | None = None) -> dict[str, Any]:
    """The form's values from the query string, with defaults (the last 12 months by month)."""
    now = today or datetime.now(UTC)
    next_month = datetime(now.year + now.month // 12, now.month % 12 + 1, 1)
    year_before = datetime(next_month.year - 1, next_month.month, 1)
    return {
        "metrics": [m for m in params.getlist("metric") if m],
        "customer": params.get("customer", ""),
        "granularity": params.get("granularity", "daily"),
        "window": params.get("window", "month"),
        "timezone": params.get("timezone", "") or "UTC",
        "from": params.get("from", "") or year_before.date().isoformat(),
        "to": params.get("to", "") or next_month.date().isoformat(),
        "group": params.get("group", "customer"),
        "rollup": params.get("rollup", ""),
        "offset": params.get("offset", "0"),
    }


def query_body(values: dict[str, Any]) -> dict[str, Any]:
    """The usage query of the form (dates are UTC midnights)."""
    body: dict[str, Any] = {
        "from": _moment(values["from"]),
        "to": _moment(values["to"]),
        "granularity": values["granularity"],
        "window_size": values["window"],
        "timezone": values["timezone"],
        "group_by": ["customer"] if values["group"] == "customer" else [],
        "limit": PAGE_SERIES,
        "offset": int(values["offset"]) if str(values["offset"]).isdigit() else values["offset"],
    }
    if values["metrics"]:
        body["metric_keys"] = values["metrics"]
    if values["customer"]:
        body["customer_ids"] = [values["customer"]]
    if values["rollup"]:
        body["rollup"] = values["rollup"]
    return body


def _moment(text: str) -> str:
    return f"{text}T00:00:00Z" if len(text) == 10 else text


def chart_series(result: UsageResult) -> list[ChartSeries]:
    """The first series of the page, for the chart."""
    charted = []
    for series in result.series[:CHART_SERIES]:
        label = series.metric_key + (
            f" · {series.customer_id}" if series.customer_id is not None else " · all"
        )
        points = [(window["start"], float(window["value"])) for window in series.windows]
        charted.append(ChartSeries(label, points))
    return charted


def add_usage_routes(
    router: APIRouter, pages: Pages, signed_in: SignedIn, clickhouse: ClickHouseSettings
) -> None:
    reader = UsageReader(clickhouse)

    async def usage_page(request: Request, session: Session) -> Response:
        org_id = request.path_params["org_id"]
        async with pages.api(request) as api:
            orgs = await api.list_orgs()
            org = next((o for o in (orgs.body or {}).get("orgs", []) if o.get("org_id") == org_id), None)
            if org is None:
                status = 404 if orgs.ok else 502
                return pages.error_page(session, "Not found: the organization does not exist.", status)
            metrics = await api.list_metrics(org_id)
            customers = await api.list_customers(org_id)
        values = form_values(request.query_params)
        errors: dict[str, str] = {}
        result: UsageResult | None = None
        try:
            query = validate_usage_query(query_body(values))
            result = await run_in_threadpool(run_usage_query, org_id, query, reader.run)
        except UsageValidationError as exc:
            errors = {detail["path"].split("[", 1)[0]: detail["message"] for detail in exc.details}
        rows = usage_rows(result.to_json()) if result else []
        charted = chart_series(result) if result else []
        return pages.render(
            "usage.html",
            status_code=422 if errors else 200,
            session=session,
            org=org,
            values=values,
            errors=errors,
            metric_keys=[m.get("metric_key") for m in (metrics.body or {}).get("metrics", [])],
            customers=(customers.body or {}).get("customers", []),
            granularities=GRANULARITIES,
            windows=[size.value for size in WindowSize],
            rollups=[rollup.value for rollup in Rollup],
            result=result,
            rows=rows,
            columns=COLUMNS,
            chart=render_chart(charted, "Usage per window", result.query.timezone)
            if charted and result
            else "",
            charted=len(charted),
            csv_url=_usage_url(org_id, ".csv", values),
            next_url=_page_url(org_id, values, result, +1),
            previous_url=_page_url(org_id, values, result, -1),
        )

    async def usage_csv(request: Request, session: Session) -> Response:
        org_id = request.path_params["org_id"]
        values = form_values(request.query_params)
        try:
            query = validate_usage_query(query_body(values))
        except UsageValidationError as exc:
            return Response("; ".join(f"{d['path']}: {d['message']}" for d in exc.details), 422)
        result = await run_in_threadpool(run_usage_query, org_id, query, reader.run)
        filename = f"usage-{org_id}-{values['from']}-{values['to']}.csv".replace('"', "")
        return Response(
            csv_text(usage_rows(result.to_json())),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            },
        )

    router.add_api_route("/orgs/{org_id}/usage", signed_in(pages, usage_page), methods=["GET"])
    router.add_api_route("/orgs/{org_id}/usage.csv", signed_in(pages, usage_csv), methods=["GET"])


def _usage_url(org_id: str, suffix: str, values: dict[str, Any], **changes: Any) -> str:
    merged = {**values, **changes}
    params: list[tuple[str, str]] = [("metric", metric) for metric in merged["metrics"]]
    params += [(name, str(merged[name])) for name in ("customer", "granularity", "window", "timezone")]
    params += [(name, str(merged[name])) for name in ("from", "to", "group", "rollup", "offset")]
    return f"/admin/orgs/{quote(org_id, safe='')}/usage{suffix}?{urlencode(params)}"


def _page_url(org_id: str, values: dict[str, Any], result: UsageResult | None, direction: int) -> str:
    if result is None:
        return ""
    offset = result.query.offset + direction * PAGE_SERIES
    if offset < 0 or (direction > 0 and offset >= result.total_series) or result.query.offset == offset:
        return ""
    return _usage_url(org_id, "", values, offset=max(offset, 0))
