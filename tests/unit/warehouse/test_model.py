"""Source bodies, views and windows (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ApiError
from ingress.warehouse import model

CLICKHOUSE = {
    "kind": "clickhouse",
    "connection": {"url": "https://ch.example.com:8443", "database": "analytics", "password": "s3cret"},
    "query": "SELECT * FROM usage WHERE updated_at > {since:DateTime64(6, 'UTC')}",
    "schedule": {"interval_s": 3600},
    "incremental": {"column": "updated_at", "lookback_s": 600},
}


def details(body: object, min_interval_s: int = 60) -> list[dict[str, str]]:
    with pytest.raises(ApiError) as caught:
        model.validate_create(body, min_interval_s)
    assert caught.value.status_code == 422
    return list(caught.value.details)


def test_a_valid_body_keeps_credentials_apart_from_settings() -> None:
    given = model.validate_create(CLICKHOUSE, 60)
    assert given.connection == {"url": "https://ch.example.com:8443", "database": "analytics"}
    assert given.secrets == {"password": "s3cret"}
    assert (given.interval_s, given.watermark_column, given.lookback_s) == (3600, "updated_at", 600)


def test_every_failing_field_is_named() -> None:
    body = {
        "kind": "snowflake",
        "connection": {"account": "", "port": "x", "warehouse_size": "XL"},
        "query": "SELECT 1",
        "schedule": {"interval_s": 5},
        "incremental": {"column": "updated_at"},
    }
    paths = {item["path"] for item in details(body)}
    assert paths == {
        "connection.account",
        "connection.user",
        "connection.port",
        "connection.warehouse_size",
        "connection.password",
        "schedule.interval_s",
        "query",
    }
    assert details({"kind": "oracle"}) == [
        {"path": "kind", "message": "must be one of clickhouse, snowflake, bigquery"}
    ]


def test_the_query_must_bind_the_watermark_of_its_kind() -> None:
    body = {**CLICKHOUSE, "query": "SELECT * FROM usage WHERE updated_at > @since"}
    assert "{since:DateTime64(6, 'UTC')}" in details(body)[0]["message"]
    full_refresh = {**body, "incremental": None}
    assert model.validate_create(full_refresh, 60).watermark_column == ""


def test_update_keeps_masked_and_absent_credentials() -> None:
    given = model.validate_create(CLICKHOUSE, 60)
    source = model.Source("o", "s", "n", "clickhouse", "draft", given.connection, "tok", given.query, 60,
                          "updated_at", 600, datetime.now(UTC))  # fmt: skip
    masked = model.validate_update({"connection": {"password": model.MASK, "database": "other"}}, source, 60)
    assert model.merged_secrets(masked, {"password": "s3cret"}) == {"password": "s3cret"}
    assert masked.connection["database"] == "other"
    changed = model.validate_update({"connection": {"password": "new"}}, source, 60)
    assert model.merged_secrets(changed, {"password": "s3cret"}) == {"password": "new"}
    view = model.source_view(model.with_input(source, changed, "tok2"), ["password"])
    assert (
        view["connection"]["password"] == model.MASK and "s3cret" not in str(view) and "new" not in str(view)
    )


def test_window_and_due() -> None:
    source = model.Source("o", "s", "n", "clickhouse", "published", {}, "", "q", 60, "updated_at", 600,
                          datetime.now(UTC))  # fmt: skip
    mark = datetime(2026, 1, 1, tzinfo=UTC)
    assert model.run_window(source, None) == model.EPOCH
    assert model.run_window(source, mark) == mark - timedelta(seconds=600)
    now = datetime.now(UTC)
    assert model.is_due(source, None, now) and model.is_due(source, now - timedelta(seconds=61), now)
    assert not model.is_due(source, now - timedelta(seconds=5), now)
    paused = model.Source(**{**source.__dict__, "status": "paused"})
    assert not model.is_due(paused, None, now)


def test_the_panel_form_becomes_an_admin_body_with_errors_next_to_fields() -> None:
    from ingress.panel.sources import body_from_form

    form = {"name": "CH", "connection.url": "", "connection.password": "", "query": " ", "interval_s": "x"}
    _, errors = body_from_form("clickhouse", form, creating=True)
    assert set(errors) == {"connection.url", "query", "schedule.interval_s", "incremental.lookback_s"}
    filled = {
        **form,
        "connection.url": "https://ch:8443",
        "connection.password": model.MASK,
        "query": "SELECT 1",
    }
    body, errors = body_from_form(
        "clickhouse", filled | {"interval_s": "60", "lookback_s": "0"}, creating=False
    )
    assert errors == {} and "password" not in body["connection"]  # the mask keeps the stored password
    assert body["connection"]["database"] is None and body["incremental"] is None
