"""Admin auth, fresh-key memory, discovery buffer and import parsing (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.errors import ApiError
from ingress.admin.auth import check_admin_authorization
from ingress.control.imports import ImportFileError, chunks, parse_customers_file
from ingress.control.runtime import BufferedDiscovery
from ingress.control.service import FreshKeys


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, "t"),
        ("", "t"),
        ("Bearer", "t"),
        ("Bearer wrong", "t"),
        ("Basic t", "t"),
        ("t", "t"),
        ("Bearer ", ""),
    ],
)
def test_admin_auth_refuses(header: str | None, token: str) -> None:
    with pytest.raises(ApiError) as info:
        check_admin_authorization(header, token)
    assert info.value.status_code == 401 and info.value.code == "UNAUTHORIZED"


def test_admin_auth_accepts_the_token() -> None:
    check_admin_authorization("Bearer s3cret", "s3cret")
    check_admin_authorization("bearer s3cret", "s3cret")


def test_fresh_keys_expire() -> None:
    now = [100.0]
    keys = FreshKeys(ttl_s=600, clock=lambda: now[0])
    keys.remember("o", "qvk_1")
    assert keys.get("o") == "qvk_1"
    now[0] += 601
    assert keys.get("o") is None
    assert keys.get("other") is None


class _RecordingStore:
    def __init__(self, fail: bool = False) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.fail = fail

    def insert_sightings(self, rows: Any) -> None:
        if self.fail:
            raise ConnectionError("down")
        self.rows.extend(rows)


def test_discovery_buffers_min_and_max_and_retries_after_a_failure() -> None:
    store = _RecordingStore(fail=True)
    discovery = BufferedDiscovery(store)  # type: ignore[arg-type]
    t0 = datetime(2026, 6, 11, tzinfo=UTC)
    discovery.saw("o", ["a", "b"], t0)
    discovery.saw("o", ["a"], t0 + timedelta(hours=1))
    discovery.saw("o", ["a"], t0 - timedelta(hours=1))
    with pytest.raises(ConnectionError):
        discovery.flush()
    store.fail = False
    assert discovery.flush() == 2
    assert sorted(store.rows) == [
        ("o", "a", t0 - timedelta(hours=1), t0 + timedelta(hours=1)),
        ("o", "b", t0, t0),
    ]
    assert discovery.flush() == 0


CSV = """customer_id,name,source,external_id
pied-piper,Pied Piper,salesforce,0015g00000ABC
pied-piper,,hubspot,4711
hooli,Hooli,,
"""


def test_csv_rows_are_grouped_by_customer() -> None:
    assert parse_customers_file("c.csv", CSV) == [
        {
            "customer_id": "pied-piper",
            "name": "Pied Piper",
            "external_ids": [
                {"source": "salesforce", "id": "0015g00000ABC"},
                {"source": "hubspot", "id": "4711"},
            ],
        },
        {"customer_id": "hooli", "name": "Hooli", "external_ids": []},
    ]


@pytest.mark.parametrize(
    "text",
    [
        "customer_id,name\na,b\n",
        "customer_id,name,source,external_id\n,x,sf,1\n",
        "customer_id,name,source,external_id\na,x,sf,\n",
    ],
)
def test_bad_csv_files_are_explained(text: str) -> None:
    with pytest.raises(ImportFileError):
        parse_customers_file("c.csv", text)


def test_json_files_either_shape() -> None:
    body = '{"customers": [{"customer_id": "a"}]}'
    assert parse_customers_file("c.json", body) == [{"customer_id": "a"}]
    assert parse_customers_file("c.txt", '[{"customer_id": "a"}]') == [{"customer_id": "a"}]
    with pytest.raises(ImportFileError):
        parse_customers_file("c.json", '{"x": 1}')


def test_chunks() -> None:
    items = [{"i": i} for i in range(5)]
    assert [len(c) for c in chunks(items, 2)] == [2, 2, 1]
