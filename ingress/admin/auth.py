"""Admin bearer auth: the token from ``AdminSettings.admin_token``; an empty token opens nothing."""

from __future__ import annotations

from collections.abc import Callable

from core.edge import bearer_guard, check_bearer_token
from core.settings import AdminSettings

ADMIN_UNAUTHORIZED = "Invalid or missing admin token"


def check_admin_authorization(authorization: str | None, admin_token: str) -> None:
    """Raises 401 unless ``authorization`` is ``Bearer <admin_token>`` (constant-time comparison)."""
    scheme, _, presented = (authorization or "").partition(" ")
    check_bearer_token(presented if scheme.lower() == "bearer" else None, admin_token, ADMIN_UNAUTHORIZED)


def require_admin(admin: AdminSettings) -> Callable[..., None]:
    """The dependency every admin route declares (documented as HTTP bearer in OpenAPI)."""
    return bearer_guard(lambda: admin.admin_token, ADMIN_UNAUTHORIZED, "The admin token")
