"""Admin bearer auth: the token from ``AdminSettings.admin_token``; an empty token opens nothing."""

from __future__ import annotations

import hmac

from core.errors import ApiError


def admin_unauthorized() -> ApiError:
    return ApiError(
        401, "UNAUTHORIZED", "Invalid or missing admin token", headers={"WWW-Authenticate": "Bearer"}
    )


def check_admin_authorization(authorization: str | None, admin_token: str) -> None:
    """Raises 401 unless ``authorization`` is ``Bearer <admin_token>`` (constant-time comparison)."""
    if not admin_token or not authorization:
        raise admin_unauthorized()
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise admin_unauthorized()
    if not hmac.compare_digest(presented.strip().encode("utf-8"), admin_token.encode("utf-8")):
        raise admin_unauthorized()
