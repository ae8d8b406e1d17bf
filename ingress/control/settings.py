"""Settings of the control plane (environment prefix ``QUIVLY_CONTROL_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ControlPlaneSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUIVLY_CONTROL_", extra="ignore")

    # How often each replica polls ClickHouse for changes (changes reach it within ~this).
    poll_interval_s: float = Field(default=1.0, gt=0)
    # Incremental reads re-read this many seconds of versions, so rows inserted late by another
    # replica (whose version is a little older than the newest already seen) are not missed.
    lookback_s: float = Field(default=5.0, ge=0)
    # A full reload of the snapshot this often, whatever the increments said.
    full_reload_interval_s: float = Field(default=300.0, gt=0)
    # How often buffered metric sightings are flushed to ClickHouse.
    discovery_flush_interval_s: float = Field(default=1.0, gt=0)
    # How long a freshly generated API key is shown by this replica (curl example); never stored.
    fresh_key_ttl_s: float = Field(default=600.0, ge=0)
