"""The error body every service answers with: ``{"success": false, "error", "code", "details"?}``.

Pure: the errors every service raises are built here; ``core.edge`` turns them into responses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson


class ApiError(Exception):
    """Raised by routes and dependencies; each service turns it into the documented error body."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False, "error": message, "code": code}
    if details is not None:
        body["details"] = details
    return body


def unauthorized() -> ApiError:
    return ApiError(401, "UNAUTHORIZED", "Invalid or missing API key")


class InvalidFields(ValueError):
    """What pure validation raises: one ``{"path", "message"}`` per failing field (a 422)."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{d['path']}: {d['message']}" for d in details))
        self.details = details


def json_object_body(
    raw: bytes, error: type[InvalidFields] = InvalidFields, empty: bool = False
) -> dict[str, Any]:
    """The JSON object a request body holds (``{}`` for an empty body when ``empty`` allows it);
    otherwise ``error`` on ``body``."""
    if empty and not raw.strip():
        return {}
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        raise error([{"path": "body", "message": "body is not valid JSON"}]) from None
    if not isinstance(body, dict):
        raise error([{"path": "body", "message": "body must be a JSON object"}])
    return body


def check_text(value: Any, path: str, max_len: int, errors: list[dict[str, str]]) -> str | None:
    """``value`` when it is a non-blank string of at most ``max_len`` characters; otherwise None,
    with the reason appended to ``errors`` at ``path``."""
    if not isinstance(value, str):
        errors.append({"path": path, "message": "must be a string"})
        return None
    if not value.strip():
        errors.append({"path": path, "message": "must not be empty"})
        return None
    if len(value) > max_len:
        errors.append({"path": path, "message": f"must be at most {max_len} characters"})
        return None
    return value


# The largest ``offset`` a page accepts: ClickHouse binds it as a signed 64-bit integer.
MAX_OFFSET = 2**63 - 1


def check_integer(value: Any, minimum: int, maximum: int) -> int:
    """``value`` when it is an integer (not a boolean) in ``[minimum, maximum]``; otherwise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be an integer")
    if not minimum <= value <= maximum:
        bound = f"between {minimum} and {maximum}" if maximum < MAX_OFFSET else f"at least {minimum}"
        raise ValueError(f"must be {bound}")
    return value


def validation_failed(details: list[dict[str, str]]) -> ApiError:
    """422 ``VALIDATION_ERROR``; each detail is ``{"path": field_path(...), "message": ...}``."""
    return ApiError(422, "VALIDATION_ERROR", "Request validation failed", details)


def payload_too_large(limit: int) -> ApiError:
    """413; the connection is closed after it, since the rest of the body is never read."""
    return ApiError(
        413,
        "PAYLOAD_TOO_LARGE",
        f"Request body is larger than the limit of {limit} bytes",
        headers={"Connection": "close"},
    )


def unavailable(retry_after_s: int, message: str) -> ApiError:
    """503 ``UNAVAILABLE``: a dependency is down; nothing was done, retry after ``retry_after_s``."""
    return ApiError(503, "UNAVAILABLE", message, headers={"Retry-After": str(retry_after_s)})


def field_path(loc: Sequence[Any]) -> str:
    """The one way a failing field is named: ``("body", "events", 3, "value")`` → ``events[3].value``,
    ``customers[0].external_ids[1].id``, ``metric_keys[2]``.

    Body fields are named from the body's root; query, path and header parameters keep their
    location (``query.limit``); the body as a whole is ``body``.
    """
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
        if not parts:
            return "body"
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"
