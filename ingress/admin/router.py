"""The admin API router (``/admin/v1``)."""

from __future__ import annotations

from fastapi import APIRouter

from core.settings import AdminSettings
from ingress.control.runtime import ControlPlane


def build_admin_router(control_plane: ControlPlane, admin: AdminSettings) -> APIRouter:
    """STUB (being filled in)."""
    return APIRouter(prefix="/admin/v1", tags=["admin"])
