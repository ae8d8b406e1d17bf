"""Warehouse rows under the push rules, and the run tally (pure logic)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ingress.warehouse.rows import Layout, Page, QueryShapeError, RunTally, check_page
from ingress.warehouse.secrets import (
    CredentialsUnreadable,
    EncryptionKeyMissing,
    SecretBox,
    generate_key,
    redact,
)

COLUMNS = ["EXTERNAL_CUSTOMER_ID", "METRIC_KEY", "VALUE", "TIMESTAMP", "PROPERTIES", "UPDATED_AT"]


def resolve(org_id: str, external_id: str) -> str | None:
    return {"sf-1": "pied-piper"}.get(external_id)


def test_warehouse_types_become_push_values_and_invalid_rows_name_the_column() -> None:
    layout = Layout.of(COLUMNS, "updated_at")
    page = Page(
        COLUMNS,
        [
            (
                "sf-1",
                "api_calls",
                Decimal("2.5"),
                datetime(2026, 11, 20, 9),
                '{"plan":"pro"}',
                date(2026, 11, 21),
            ),
            ("sf-9", "api_calls", 1, None, None, datetime(2026, 11, 22, 8, tzinfo=UTC)),
            ("sf-1", "api_calls", True, None, "not json", None),
            (None, "", 1.0, "yesterday", None, None),
        ],
    )
    checked = check_page(layout, page, first_row=10)
    assert [e.value for e in checked.events] == [2.5, 1.0]
    assert checked.events[0].properties == '{"plan":"pro"}'
    assert checked.events[0].timestamp == datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert checked.event_rows == [10, 11]
    assert checked.watermark == datetime(2026, 11, 22, 8, tzinfo=UTC)
    assert {(i["row"], i["column"]) for i in checked.invalid} == {
        (12, "value"),
        (12, "properties"),
        (13, "external_customer_id"),
        (13, "metric_key"),
        (13, "timestamp"),
    }
    tally = RunTally()
    plan = tally.plan("org", checked, len(page.rows), resolve, live=True, received_at=datetime.now(UTC))
    assert len(plan.records) == 1
    report = tally.report(capped=False)
    assert report["summary"] == {"total": 4, "matched": 1, "unmatched": 1, "invalid": 2}
    assert report["errors"][0]["index"] == 11 and report["unmatched_external_ids"] == ["sf-9"]


def test_missing_columns_are_a_query_shape_error() -> None:
    with pytest.raises(QueryShapeError, match="metric_key, value"):
        Layout.of(["external_customer_id"], "")
    with pytest.raises(QueryShapeError, match="watermark"):
        Layout.of(["external_customer_id", "metric_key", "value"], "updated_at")


def test_credentials_are_sealed_and_redacted() -> None:
    box = SecretBox(generate_key())
    token = box.seal({"password": "pw-123456"})
    assert "pw-123456" not in token and box.open(token) == {"password": "pw-123456"}
    with pytest.raises(CredentialsUnreadable):
        SecretBox(generate_key()).open(token)
    with pytest.raises(EncryptionKeyMissing, match="QUIVLY_WAREHOUSE_ENCRYPTION_KEY"):
        SecretBox("")
    assert redact("login failed for pw-123456", {"password": "pw-123456"}) == "login failed for ***"
