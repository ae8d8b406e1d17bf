"""Settings of the query service (environment prefix ``QUIVLY_QUERY_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class QuerySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUIVLY_QUERY_", extra="ignore")

    # How long the index of current API-key hashes is reused before it is read again: a rotated
    # key stops working, and a new one starts working, within this time. Unknown keys are refused
    # from the index (no ClickHouse lookup per key).
    auth_cache_ttl_s: float = Field(default=2.0, ge=0.0, le=2.0)
    # Whole-organization searches: match counts kept per (search, partition) while the partition's
    # parts stay the same (``query.count_cache``); 0 turns the cache off. An entry holds up to 37
    # (day, count) pairs (a month and a weekly value's spill): ~5 KB at most, ~50 MB for 10,000.
    count_cache_max_entries: int = Field(default=10_000, ge=0)
    # Searches not scoped to a customer: each partition's current values per (metric, event_type,
    # properties text) and day, per organization, answer any such filter set and created_at range
    # (``query.count_cache.PartitionProfile``). A key weighs ~0.45 KB (~45 MB for 100,000); 0
    # turns profiles off. A partition with more keys than the second bound (too many distinct
    # metric x properties texts) is counted per search instead.
    profile_cache_max_keys: int = Field(default=100_000, ge=0)
    # Keys of one organization's month past which that month is counted per search instead.
    profile_max_keys_per_partition: int = Field(default=10_000, ge=1)
    # Upper bound of the request body of a search; larger bodies are refused with 413.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Retry-After (seconds) sent with 503 UNAVAILABLE when ClickHouse cannot answer.
    unavailable_retry_after_s: int = Field(default=1, ge=1)
