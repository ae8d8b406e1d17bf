"""The error body every service answers with: ``{"success": false, "error", "code", "details"?}``."""

from __future__ import annotations

from typing import Any


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
