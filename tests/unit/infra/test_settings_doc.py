"""docs/settings.md is generated from the settings classes and must not be stale."""

from __future__ import annotations

from infra.settings_doc import OUTPUT, render, settings_classes


def test_the_settings_reference_is_up_to_date() -> None:
    assert OUTPUT.read_text(encoding="utf-8") == render(), "run: python -m infra.settings_doc"


def test_every_settings_class_is_listed_with_every_variable() -> None:
    text = render()
    names = {cls.__name__ for cls in settings_classes()}
    assert {"IngressSettings", "QuerySettings", "HttpServerSettings", "ClickHouseSettings"} <= names
    assert (
        "`QUIVLY_HTTP_FORWARDED_ALLOW_IPS`" in text and "`QUIVLY_CLICKHOUSE_SEND_RECEIVE_TIMEOUT_S`" in text
    )
