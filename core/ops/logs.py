"""Logs of every process: ``QUIVLY_LOG_FORMAT=json`` gives one JSON object per line.

Each line carries the time (UTC, RFC 3339), level, logger, message, service and, inside a
request, its request ID (``X-Request-ID``). ``logging_config`` is a ``logging.config.dictConfig``
dictionary, given to uvicorn (``log_config``) and to the Faust worker (``logging_config``) so
their own loggers use the same format.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from core.ops.settings import LogSettings

REQUEST_ID_HEADER = "x-request-id"
_request_id: ContextVar[str | None] = ContextVar("quivly_request_id", default=None)
# What an accepted X-Request-ID looks like (anything else is replaced by a generated one).
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> object:
    """Sets the request ID of the current context; returns the token to reset it with."""
    return _request_id.set(value)


def reset_request_id(token: object) -> None:
    _request_id.reset(token)  # type: ignore[arg-type]


def accepted_request_id(header: str | None) -> str:
    """The caller's ID when it is a sane token, else a new one (never trust it into logs as is)."""
    if header is not None and _VALID_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str = "") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.service:
            line["service"] = self.service
        request_id = current_request_id()
        if request_id is not None:
            line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def logging_config(
    service: str, settings: LogSettings | None = None, level: str | None = None
) -> dict[str, Any]:
    """A dictConfig for ``service``: root, uvicorn's and Faust's loggers to stderr in one format."""
    settings = settings or LogSettings()
    level_name = (level or settings.level).upper()
    formatter: dict[str, Any] = (
        {"()": JsonFormatter, "service": service} if settings.format == "json" else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"quivly": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "quivly", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": level_name},
        "loggers": {
            # uvicorn's own handlers would print a second, differently formatted line.
            name: {"handlers": [], "propagate": True, "level": level_name}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure_logging(service: str, settings: LogSettings | None = None, level: str | None = None) -> None:
    import logging.config

    logging.config.dictConfig(logging_config(service, settings, level))
