"""Settings of the operations endpoints and logs (prefixes ``QUIVLY_OPS_`` and ``QUIVLY_LOG_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OpsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUIVLY_OPS_", extra="ignore")

    # Bound of each readiness check (ClickHouse, broker, upstreams): a probe answers within it.
    check_timeout_s: float = Field(default=2.0, gt=0)
    # Address of the operations server a process runs next to its work (the streams worker's
    # web port, the gateway's ops port): the services' bind address.
    bind_host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("QUIVLY_BIND_HOST"))


class LogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUIVLY_LOG_", extra="ignore")

    # "json": one JSON object per line (with the request ID); "text": human-readable lines.
    format: Literal["text", "json"] = "text"

    # Lowest level written (debug, info, warning, error) by ingress, query and the gateway.
    level: str = "warning"
