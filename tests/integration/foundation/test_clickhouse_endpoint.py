"""The ClickHouse endpoint (real server or the local chdb stand-in) through clickhouse-connect.

These are the behaviours every service relies on: migrations, versioned replace under FINAL,
server-side parameters, settings, the ``database`` parameter, concurrency, compression, errors.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from core.clickhouse import make_client
from core.names import SCHEMA_MIGRATIONS
from core.settings import ClickHouseSettings
from infra.migrate import apply_migrations, discover_migrations

pytestmark = pytest.mark.clickhouse

TRICKY = "it's a \"quoted\" \\ back\\slash\\\\ {curly} \t tab\nnewline ; -- not a comment 'x'"


def _versioned_table(client: Client) -> str:
    name = f"kv_{uuid.uuid4().hex[:8]}"
    client.command(
        f"CREATE TABLE {name} (key String, value String, version UInt64) "
        "ENGINE = ReplacingMergeTree(version) ORDER BY key"
    )
    return name


def test_migrations_apply_once(clickhouse_settings: ClickHouseSettings) -> None:
    client = make_client(clickhouse_settings)
    recorded = [
        row[0]
        for row in client.query(f"SELECT number FROM {SCHEMA_MIGRATIONS} FINAL ORDER BY number").result_rows
    ]
    assert recorded == [m.number for m in discover_migrations()]
    assert apply_migrations(clickhouse_settings) == []
    assert client.command(f"SELECT count() FROM {SCHEMA_MIGRATIONS} FINAL") == len(recorded)


def test_replacing_merge_tree_keeps_highest_version_under_final(
    clickhouse_settings: ClickHouseSettings,
) -> None:
    client = make_client(clickhouse_settings)
    table = _versioned_table(client)
    # Separate inserts = separate parts: nothing merged yet, FINAL must still pick the highest version.
    for value, version in [("v5", 5), ("v9", 9), ("v7", 7)]:
        client.insert(table, [["k", value, version]], column_names=["key", "value", "version"])
    client.insert(table, [["other", "o1", 1]], column_names=["key", "value", "version"])
    assert client.command(f"SELECT count() FROM {table}") == 4
    rows = client.query(f"SELECT key, value, version FROM {table} FINAL ORDER BY key").result_rows
    assert rows == [("k", "v9", 9), ("other", "o1", 1)]
    argmax = client.query(f"SELECT argMax(value, version) FROM {table} WHERE key = 'k'").result_rows
    assert argmax == [("v9",)]


def test_server_side_parameters_round_trip_tricky_text(clickhouse_settings: ClickHouseSettings) -> None:
    client = make_client(clickhouse_settings)
    assert client.query("SELECT {v:String}", parameters={"v": TRICKY}).result_rows == [(TRICKY,)]
    table = _versioned_table(client)
    client.insert(table, [[TRICKY, TRICKY, 1]], column_names=["key", "value", "version"])
    rows = client.query(
        f"SELECT value FROM {table} FINAL WHERE key = {{k:String}}", parameters={"k": TRICKY}
    ).result_rows
    assert rows == [(TRICKY,)]
    typed = client.query(
        "SELECT {n:UInt64} + 1, {d:DateTime64(3, 'UTC')}, {xs:Array(String)}",
        parameters={"n": 41, "d": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "xs": ["a'b", "c\\d"]},
    ).result_rows
    assert typed[0][0] == 42
    assert typed[0][1].replace(tzinfo=UTC) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert typed[0][2] == ["a'b", "c\\d"]


def test_large_parameters_sent_as_a_multipart_form_round_trip(
    clickhouse_settings: ClickHouseSettings,
) -> None:
    # Past a few KB of URL-encoded parameters clickhouse-connect switches to a multipart form body.
    large = "ключ-" * 2000 + TRICKY
    client = make_client(clickhouse_settings)
    assert client.query("SELECT {v:String}, lengthUTF8({v:String})", parameters={"v": large}).result_rows == [
        (large, len(large))
    ]


def test_a_use_statement_does_not_leak_into_the_next_request(clickhouse_settings: ClickHouseSettings) -> None:
    client = make_client(clickhouse_settings)
    other = make_client(clickhouse_settings, database="default")
    client.command("USE system")
    assert other.command("SELECT currentDatabase()") == "default"
    assert client.command("SELECT currentDatabase()") == clickhouse_settings.database


def test_settings_are_passed(clickhouse_settings: ClickHouseSettings) -> None:
    client = make_client(clickhouse_settings)
    value = client.query("SELECT getSetting('max_threads')", settings={"max_threads": 3}).result_rows
    assert value == [(3,)]
    assert client.command("SELECT getSetting('max_result_rows')", settings={"max_result_rows": 77}) == 77
    # Applied per request only: the next request sees the default again.
    assert client.command("SELECT getSetting('max_result_rows')") == 0


def test_database_parameter_is_honoured(clickhouse_settings: ClickHouseSettings) -> None:
    client = make_client(clickhouse_settings)
    assert client.command("SELECT currentDatabase()") == clickhouse_settings.database
    other = make_client(clickhouse_settings, database="default")
    assert other.command("SELECT currentDatabase()") == "default"
    # Unqualified names resolve in the client's database.
    assert client.command(f"EXISTS TABLE {SCHEMA_MIGRATIONS}") == 1
    assert other.command(f"EXISTS TABLE {SCHEMA_MIGRATIONS}") == 0


def test_two_concurrent_clients(clickhouse_settings: ClickHouseSettings) -> None:
    table = _versioned_table(make_client(clickhouse_settings))
    per_client, batches = 200, 10

    def work(client_no: int) -> int:
        client = make_client(clickhouse_settings)
        seen = 0
        for batch in range(batches):
            rows = [
                [f"c{client_no}-{batch}-{i}", f"value {client_no} 'q' \\ {i}", i]
                for i in range(per_client // batches)
            ]
            client.insert(table, rows, column_names=["key", "value", "version"])
            seen = client.query(
                f"SELECT count() FROM {table} WHERE key LIKE {{p:String}}",
                parameters={"p": f"c{client_no}-%"},
            ).result_rows[0][0]
        return int(seen)

    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = list(pool.map(work, [1, 2]))
    assert counts == [per_client, per_client]
    client = make_client(clickhouse_settings)
    assert client.command(f"SELECT count() FROM {table} FINAL") == 2 * per_client
    sample = client.query(f"SELECT value FROM {table} WHERE key = 'c2-9-19'").result_rows
    assert sample == [("value 2 'q' \\ 19",)]


def test_a_short_query_is_not_queued_behind_a_long_one(clickhouse_settings: ClickHouseSettings) -> None:
    finished: list[str] = []

    def long_query() -> None:
        make_client(clickhouse_settings).command("SELECT sleep(2)")
        finished.append("long")

    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(long_query)
        time.sleep(0.3)  # the long query is on the server now
        assert make_client(clickhouse_settings).command("SELECT 1") == 1
        finished.append("short")
        running.result()
    assert finished == ["short", "long"]


def test_concurrent_requests_keep_their_own_parameters_and_settings(
    clickhouse_settings: ClickHouseSettings,
) -> None:
    def work(client_no: int) -> list[tuple[str, int]]:
        client = make_client(clickhouse_settings)
        return [
            client.query(
                "SELECT {v:String}, toUInt64(getSetting('max_result_rows'))",
                parameters={"v": f"client {client_no} request {i}"},
                settings={"max_result_rows": 1000 + client_no},
            ).result_rows[0]
            for i in range(25)
        ]

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(work, range(4)))
    for client_no, rows in enumerate(answers):
        assert rows == [(f"client {client_no} request {i}", 1000 + client_no) for i in range(25)]


@pytest.mark.parametrize("compress", [True, "lz4", "zstd", "gzip", False])
def test_compressed_requests_and_responses(
    clickhouse_settings: ClickHouseSettings, compress: bool | str
) -> None:
    client = make_client(clickhouse_settings, compress=compress)
    table = _versioned_table(client)
    rows = [[f"key-{i}", "payload " * 20 + str(i), i] for i in range(500)]
    client.insert(table, rows, column_names=["key", "value", "version"])
    result = client.query(f"SELECT key, value, version FROM {table} FINAL ORDER BY version").result_rows
    assert [list(row) for row in result] == rows
    assert client.query("SELECT {v:String}", parameters={"v": TRICKY}).result_rows == [(TRICKY,)]


@pytest.mark.parametrize("encoding", ["gzip", "zstd", "lz4"])
def test_raw_http_compression(clickhouse_settings: ClickHouseSettings, encoding: str) -> None:
    response = httpx.post(
        clickhouse_settings.url,
        params={"enable_http_compression": "1"},
        headers={"Accept-Encoding": encoding},
        content=b"SELECT number FROM system.numbers LIMIT 1000 FORMAT TSV",
        timeout=5,
    )
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == encoding
    if encoding == "lz4":  # httpx does not decode lz4 itself
        import lz4.frame

        text = lz4.frame.decompress(response.content).decode()
    else:
        text = response.text
    assert text.splitlines()[-1] == "999"


def test_bad_query_is_a_clickhouse_error_quickly(clickhouse_settings: ClickHouseSettings) -> None:
    client = make_client(clickhouse_settings)
    started = time.monotonic()
    with pytest.raises(DatabaseError) as error:
        client.query("SELECT * FROM table_that_does_not_exist")
    assert time.monotonic() - started < 5
    assert error.value.code == 60
    assert "UNKNOWN_TABLE" in str(error.value)
    assert "Traceback" not in str(error.value)
    with pytest.raises(DatabaseError) as syntax:
        client.command("SELEC 1")
    assert syntax.value.code == 62
    # The connection is still usable after errors.
    assert client.command("SELECT 1") == 1


def test_raw_http_bad_query(clickhouse_settings: ClickHouseSettings) -> None:
    response = httpx.post(
        clickhouse_settings.url,
        params={"database": clickhouse_settings.database},
        content=b"SELECT nope FROM nowhere_at_all",
        timeout=5,
    )
    assert 400 <= response.status_code < 500
    assert response.text.startswith("Code: ")
    assert "Traceback" not in response.text
    assert response.headers["X-ClickHouse-Exception-Code"] == response.text.split(".")[0].removeprefix(
        "Code: "
    )
    ok = httpx.post(clickhouse_settings.url, content=b"SELECT 1 + 1", timeout=5)
    assert ok.status_code == 200
    assert ok.text == "2\n"


def test_raw_http_corrupt_compressed_body(clickhouse_settings: ClickHouseSettings) -> None:
    response = httpx.post(
        clickhouse_settings.url, content=b"not gzip at all", headers={"Content-Encoding": "gzip"}, timeout=5
    )
    assert response.status_code >= 400  # the chdb endpoint: 400; a real server may say 500
    assert response.text.startswith("Code: ")
    assert response.headers["X-ClickHouse-Exception-Code"]
