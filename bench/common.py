"""What the read benchmarks share: a migrated database on the chdb endpoint and one org key."""

from __future__ import annotations

import time
from typing import Any

from core.api_keys import generate_api_key, hash_api_key
from core.clickhouse import make_client
from core.settings import ClickHouseSettings

BENCH_DATABASE = "quivly_bench"


def open_bench_database(url: str, org_id: str, timeout_s: int = 300) -> tuple[Any, str]:
    """Migrates the benchmark database at ``url`` and gives ``org_id`` a fresh API key.

    Returns a client and the plain key."""
    from infra.migrate import apply_migrations

    settings = ClickHouseSettings(url=url, database=BENCH_DATABASE, send_receive_timeout_s=timeout_s)
    apply_migrations(settings)
    client = make_client(settings)
    api_key = generate_api_key()
    client.insert(
        "api_keys",
        [[org_id, hash_api_key(api_key), api_key[:8], time.time_ns()]],
        column_names=["org_id", "key_hash", "key_prefix", "version"],
    )
    return client, api_key
