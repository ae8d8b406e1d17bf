"""Rows of the dead-letter table from records of the dead-letter topic."""

from __future__ import annotations

from datetime import UTC, datetime

from core.dead_letters import letter_id, org_of
from streams.dead_letters import dead_letter_row


def test_the_organization_is_read_from_the_value_then_the_key() -> None:
    assert org_of(b'["k-org","c","m","daily","2026-01-01T00:00:00Z"]', b'{"org_id":"v-org"}') == "v-org"
    assert org_of(b'["k-org","c","m","daily","2026-01-01T00:00:00Z"]', b"{not json") == "k-org"
    assert org_of(b"\xff\xfe", b"\x00") == ""
    assert org_of(None, None) == ""


def test_a_row_keeps_the_record_as_it_was_with_a_stable_id() -> None:
    headers = [("quivly-error", b"ClickHouse refused the row: x"), ("quivly-source", b"usage/2/41")]
    row = dead_letter_row(b"key", b'{"org_id":"acme"}', headers, "usage_dlq", 0, 7, 1_764_504_000.5)
    assert row == (
        "acme",
        letter_id("usage/2/41"),
        datetime.fromtimestamp(1_764_504_000.5, UTC),
        "ClickHouse refused the row: x",
        "usage/2/41",
        b"key",
        b'{"org_id":"acme"}',
        7,
    )
    assert letter_id("usage/2/41") == letter_id("usage/2/41") != letter_id("usage/2/42")


def test_a_record_without_headers_is_identified_by_its_own_position() -> None:
    row = dead_letter_row(None, None, None, "usage_dlq", 0, 3, None)
    assert row[0] == "" and row[4] == "usage_dlq/0/3" and row[1] == letter_id("usage_dlq/0/3")
