"""The chdb endpoint: turning an HTTP request into a statement, body codecs, session settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.chdb_server import ClickHouseError, build_statement, decode_body, encode_body


def test_query_in_url() -> None:
    statement = build_statement([("query", "SELECT 1"), ("database", "db1")], b"")
    assert statement.sql == "SELECT 1"
    assert statement.database == "db1"
    assert statement.output_format == "TabSeparated"
    assert statement.insert_data is None


def test_query_in_body_with_trailing_format() -> None:
    statement = build_statement([], b"SELECT 1 FORMAT JSONEachRow")
    assert statement.sql == "SELECT 1 FORMAT JSONEachRow"
    assert statement.output_format == "JSONEachRow"
    assert statement.insert_data is None


def test_default_format_parameter() -> None:
    statement = build_statement([("default_format", "Native")], b"SELECT 1")
    assert statement.output_format == "Native"


def test_query_in_url_continues_in_body() -> None:
    statement = build_statement([("query", "SELECT")], b"42")
    assert statement.sql == "SELECT\n42"


def test_insert_with_query_in_url_and_data_in_body() -> None:
    data = b"\x01\x02binary\n\x00"
    statement = build_statement([("query", "INSERT INTO t (a) FORMAT Native")], data)
    assert statement.sql == "INSERT INTO t (a) FORMAT Native"
    assert statement.insert_data == data


def test_insert_embedded_in_body() -> None:
    body = b'INSERT INTO t FORMAT JSONEachRow\n{"a": 1}\n{"a": 2}\n'
    statement = build_statement([], body)
    assert statement.sql == "INSERT INTO t FORMAT JSONEachRow"
    assert statement.insert_data == b'{"a": 1}\n{"a": 2}\n'


def test_insert_with_values_is_a_plain_query() -> None:
    statement = build_statement([], b"INSERT INTO t VALUES (1, 'x')")
    assert statement.sql == "INSERT INTO t VALUES (1, 'x')"
    assert statement.insert_data is None


def test_params_settings_and_transport_parameters_are_split() -> None:
    statement = build_statement(
        [
            ("query", "SELECT {v:String}"),
            ("param_v", "it's \\ here"),
            ("max_threads", "2"),
            ("session_id", "abc"),
            ("compress", "1"),
            ("enable_http_compression", "1"),
            ("wait_end_of_query", "1"),
        ],
        b"",
    )
    assert statement.params == {"v": "it's \\ here"}
    assert statement.settings == {"max_threads": "2"}


def test_unknown_setting_name_is_a_clickhouse_error() -> None:
    with pytest.raises(ClickHouseError) as error:
        build_statement([("query", "SELECT 1"), ("bad-name; DROP", "1")], b"")
    assert error.value.code == 115
    assert error.value.text.startswith("Code: 115.")
    assert error.value.http_status == 400


def test_empty_query_is_a_syntax_error() -> None:
    with pytest.raises(ClickHouseError) as error:
        build_statement([], b"   ")
    assert error.value.code == 62


def test_error_status_follows_the_code() -> None:
    assert (
        ClickHouseError("Code: 60. DB::Exception: Table x does not exist. (UNKNOWN_TABLE)").http_status == 404
    )
    assert ClickHouseError("Code: 62. DB::Exception: Syntax error. (SYNTAX_ERROR)").http_status == 400
    assert ClickHouseError("something odd").http_status == 500
    assert ClickHouseError("something odd").text.startswith("Code: 1002. DB::Exception: something odd")


PAYLOAD = b"SELECT 'x' FORMAT TSV\n" * 200


@pytest.mark.parametrize("encoding", ["lz4", "zstd", "gzip", "deflate"])
def test_encode_then_decode_round_trips(encoding: str) -> None:
    encoded, chosen = encode_body(PAYLOAD, f"{encoding}")
    assert chosen == encoding
    assert encoded != PAYLOAD
    assert len(encoded) < len(PAYLOAD)
    assert decode_body(encoded, encoding) == PAYLOAD


def test_encode_picks_the_first_supported_offer() -> None:
    _, chosen = encode_body(PAYLOAD, "br, zstd;q=1.0, gzip")
    assert chosen == "zstd"


def test_encode_without_a_supported_offer_is_identity() -> None:
    assert encode_body(PAYLOAD, "br") == (PAYLOAD, None)
    assert encode_body(PAYLOAD, None) == (PAYLOAD, None)


def test_decode_identity_and_empty() -> None:
    assert decode_body(PAYLOAD, None) == PAYLOAD
    assert decode_body(PAYLOAD, "identity") == PAYLOAD
    assert decode_body(b"", "gzip") == b""


def test_decode_unknown_encoding_is_a_clickhouse_error() -> None:
    with pytest.raises(ClickHouseError) as error:
        decode_body(b"abc", "br")
    assert error.value.code == 1001


@pytest.mark.parametrize("encoding", ["lz4", "zstd", "gzip", "deflate"])
def test_decode_corrupt_body_is_a_clickhouse_error(encoding: str) -> None:
    with pytest.raises(ClickHouseError) as error:
        decode_body(b"definitely not compressed", encoding)
    assert error.value.code == 271
    assert error.value.http_status == 400


def test_shutdown_closes_the_engine_and_removes_its_spool_directory(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from infra.chdb_server import create_app

    app = create_app(tmp_path / "data")
    with TestClient(app) as http:
        response = http.post("/", params={"query": "SELECT 1 FORMAT TabSeparated"})
        assert response.status_code == 200 and response.text == "1\n"
        spool_dir = app.state.engine().spool_dir
        assert spool_dir.is_dir()
    assert not spool_dir.exists()


def test_a_connection_runs_each_statement_with_exactly_its_settings(tmp_path: Path) -> None:
    from infra.chdb_server import ChdbEngine, Statement

    engine = ChdbEngine(tmp_path / "data", connections=1)  # every statement on the same connection

    def setting(name: str, settings: dict[str, str]) -> str:
        statement = Statement(f"SELECT getSetting('{name}')", "TabSeparated", settings=settings)
        return engine.execute(statement).body.decode().strip()

    try:
        assert setting("max_result_rows", {"max_result_rows": "77"}) == "77"
        both = {"max_result_rows": "78", "max_threads": "1"}
        assert setting("max_result_rows", both) == "78"
        assert setting("max_threads", both) == "1"
        assert setting("max_threads", {"max_result_rows": "78"}) != "1"  # back to its default
        assert setting("max_result_rows", {}) == "0"
        with pytest.raises(ClickHouseError):  # a value it refuses fails the statement
            setting("max_result_rows", {"max_result_rows": "many"})
        assert setting("max_result_rows", {}) == "0"
        assert setting("max_result_rows", {"max_result_rows": "5"}) == "5"
    finally:
        engine.close()
