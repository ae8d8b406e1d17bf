"""``GET /admin/v1/orgs/{org_id}/dead-letters`` over HTTP, against a real ClickHouse."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from core.clickhouse import make_client
from core.dead_letters import DEAD_LETTER_COLUMNS, DEAD_LETTERS, letter_id
from core.settings import ClickHouseSettings
from tests.integration.control.conftest import AdminHarness

pytestmark = pytest.mark.clickhouse


def store_letters(clickhouse: ClickHouseSettings) -> None:
    rows = [
        (
            "acme",
            letter_id("usage/0/1"),
            datetime(2026, 11, 1, tzinfo=UTC),
            "bad",
            "usage/0/1",
            b"k1",
            b"v1",
            0,
        ),
        (
            "acme",
            letter_id("usage/0/2"),
            datetime(2026, 11, 2, tzinfo=UTC),
            "worse",
            "usage/0/2",
            b"k2",
            b"\xff",
            1,
        ),
        ("other", letter_id("usage/1/1"), datetime(2026, 11, 2, tzinfo=UTC), "x", "usage/1/1", b"k", b"v", 2),
    ]
    client = make_client(clickhouse)
    try:
        client.insert(DEAD_LETTERS, rows + rows[:1], column_names=list(DEAD_LETTER_COLUMNS))  # one twice
    finally:
        client.close()


async def test_an_organizations_dead_letters_newest_first(
    admin: AdminHarness, clickhouse_settings: ClickHouseSettings
) -> None:
    store_letters(clickhouse_settings)
    response = await admin.client.get("/admin/v1/orgs/acme/dead-letters")
    assert response.status_code == 200, response.text
    letters = response.json()["dead_letters"]
    assert [(x["id"], x["reason"], x["source"], x["key"]) for x in letters] == [
        (letter_id("usage/0/2"), "worse", "usage/0/2", "k2"),
        (letter_id("usage/0/1"), "bad", "usage/0/1", "k1"),
    ]
    assert letters[0]["record"] == "\ufffd" and letters[1]["dead_lettered_at"] == "2026-11-01T00:00:00.000Z"

    since = await admin.client.get(
        "/admin/v1/orgs/acme/dead-letters", params={"since": "2026-11-02T00:00:00Z"}
    )
    assert [x["source"] for x in since.json()["dead_letters"]] == ["usage/0/2"]


async def test_bad_parameters_and_no_token(admin: AdminHarness) -> None:
    bad = await admin.client.get("/admin/v1/orgs/acme/dead-letters", params={"since": "yesterday"})
    assert bad.status_code == 422 and bad.json()["details"][0]["path"] == "since"
    assert (
        await admin.client.get("/admin/v1/orgs/acme/dead-letters", params={"limit": 0})
    ).status_code == 422
    transport = admin.client._transport
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as anonymous:
        assert (await anonymous.get("/admin/v1/orgs/acme/dead-letters")).status_code == 401
