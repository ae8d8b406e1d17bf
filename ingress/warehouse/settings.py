"""Settings of the warehouse puller (environment prefix ``QUIVLY_WAREHOUSE_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class WarehouseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUIVLY_WAREHOUSE_", extra="ignore")

    # Fernet key (``quivly admin source generate-encryption-key``) encrypting source credentials.
    # Required as soon as one source exists: ingress refuses to start without it.
    encryption_key: SecretStr = SecretStr("")
    # Whether this ingress replica takes part in the scheduler lease at all.
    scheduler_enabled: bool = True
    # How often the scheduler looks for due sources and renews its lease.
    tick_s: float = Field(default=1.0, gt=0)
    # A lease not renewed for this long is free for another replica.
    lease_ttl_s: float = Field(default=15.0, gt=0)
    # After claiming, wait this long and read again: the highest claim wins (see docs/warehouse.md).
    lease_settle_s: float = Field(default=0.5, ge=0)
    # Rows per page read from the warehouse and produced in one batch.
    page_rows: int = Field(default=10_000, ge=1)
    # Rows a test run reads at most.
    test_run_max_rows: int = Field(default=1_000, ge=1)
    # Attempts of a scheduled run when the warehouse or the broker is unavailable, and the backoff.
    run_attempts: int = Field(default=3, ge=1)
    retry_initial_s: float = Field(default=2.0, ge=0)
    retry_max_s: float = Field(default=60.0, ge=0)
    # Smallest schedule interval a source may ask for.
    min_interval_s: int = Field(default=60, ge=1)
    # Connection and query timeouts towards the warehouse.
    connect_timeout_s: float = Field(default=10.0, gt=0)
    query_timeout_s: float = Field(default=600.0, gt=0)
