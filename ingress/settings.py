"""Settings of the ingress service (environment prefix ``QUIVLY_INGRESS_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngressSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUIVLY_INGRESS_", extra="ignore")

    # Largest accepted request body: 1000 events with 4 KB of properties each is about 4.3 MB.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # Requests per organization per sliding minute, per ingress replica (see docs/ingress.md).
    rate_limit_per_minute: int = Field(default=1000, ge=1)
    # Length of the sliding window the limit counts in.
    rate_limit_window_s: float = Field(default=60.0, gt=0)
    # How long a push waits for the broker to acknowledge every record before answering 503.
    produce_timeout_s: float = Field(default=5.0, gt=0)
    # Retry-After (seconds) sent with 503 UNAVAILABLE.
    unavailable_retry_after_s: int = Field(default=5, ge=1)
    # How long the producer waits to fill a batch before sending it.
    producer_linger_ms: int = Field(default=2, ge=0)
    # Largest batch of records per partition the producer sends at once.
    producer_max_batch_bytes: int = Field(default=1024 * 1024, ge=16 * 1024)
    # Largest produce request (must hold a whole push of 1000 events).
    producer_max_request_bytes: int = Field(default=8 * 1024 * 1024, ge=1024 * 1024)
    # gzip, snappy, lz4, zstd, or empty for none.
    producer_compression: str | None = None
    # Idempotent producer: "auto" uses it when the broker supports it (Tansu 0.6 does not answer
    # InitProducerId; then the producer runs without it, see docs/ingress.md), "on" requires it.
    producer_idempotence: Literal["auto", "on", "off"] = "auto"
    # How long a stored idempotent response is honoured (at least 24 hours).
    idempotency_retention_hours: int = Field(default=24, ge=24)
    # Stored idempotent responses also kept in this replica's memory (0: always read ClickHouse).
    idempotency_cache_entries: int = Field(default=100_000, ge=0)
    # Push-call log: flushed to ClickHouse in the background.
    push_calls_flush_interval_s: float = Field(default=1.0, gt=0)
    # Calls buffered while ClickHouse is away; past it new calls are not logged (counted as dropped).
    push_calls_max_buffer: int = Field(default=10_000, ge=1)
