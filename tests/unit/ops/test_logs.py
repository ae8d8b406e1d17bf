from __future__ import annotations

import logging
import sys

import orjson

from core.ops.logs import (
    JsonFormatter,
    accepted_request_id,
    logging_config,
    reset_request_id,
    set_request_id,
)
from core.ops.settings import LogSettings


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("quivly.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_json_line_carries_service_level_message_and_request_id() -> None:
    token = set_request_id("req-42")
    try:
        line = JsonFormatter("ingress").format(_record("pushed %d events", 3))
    finally:
        reset_request_id(token)
    payload = orjson.loads(line)
    assert "\n" not in line
    assert payload["message"] == "pushed 3 events"
    assert payload["level"] == "warning"
    assert payload["logger"] == "quivly.test"
    assert payload["service"] == "ingress"
    assert payload["request_id"] == "req-42"
    assert payload["ts"].endswith("+00:00")


def test_json_line_outside_a_request_has_no_request_id_and_keeps_exceptions_on_one_line() -> None:
    line = JsonFormatter("streams").format(_record("failed", exc=True))
    payload = orjson.loads(line)
    assert "request_id" not in payload
    assert "ValueError: boom" in payload["exception"]
    assert "\n" not in line


def test_request_ids_are_kept_when_sane_and_replaced_otherwise() -> None:
    assert accepted_request_id("abc-123_X.y:z") == "abc-123_X.y:z"
    generated = accepted_request_id(None)
    assert len(generated) == 32 and generated != accepted_request_id(None)
    assert accepted_request_id("bad id with spaces") != "bad id with spaces"
    assert accepted_request_id("x" * 129) != "x" * 129
    assert accepted_request_id("line\nbreak") != "line\nbreak"


def test_logging_config_picks_the_formatter_from_the_settings() -> None:
    json_config = logging_config("query", LogSettings(format="json"), level="info")
    assert json_config["formatters"]["quivly"]["()"] is JsonFormatter
    assert json_config["root"]["level"] == "INFO"
    text_config = logging_config("query", LogSettings(format="text"))
    assert "format" in text_config["formatters"]["quivly"]
    assert text_config["root"]["level"] == "WARNING"
