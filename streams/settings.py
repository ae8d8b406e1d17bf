"""Settings of the streams worker (prefix ``QUIVLY_STREAMS_``); Kafka and ClickHouse come from core."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StreamsSettings(BaseSettings):
    """How the Faust worker runs: identity, local state, sink batching and retry."""

    model_config = SettingsConfigDict(env_prefix="QUIVLY_STREAMS_", extra="ignore")

    # The Faust app id is also the consumer group and the prefix of the changelog topic.
    app_id: str = "quivly-streams"
    # Faust binds this port even with the web server off: one port per worker on a machine.
    web_port: int = Field(default=6066, ge=1, le=65535)
    data_dir: Path = Path(".quivly/streams")
    store_url: str = "rocksdb://"
    # Sink batches: flush at this many records or after this many seconds, whichever comes first.
    batch_max_rows: int = Field(default=10_000, ge=1)
    batch_max_seconds: float = Field(default=1.0, gt=0)
    # A batch also closes as soon as the previous one is done, once it is this old: low lag at
    # low rates, while under load batches grow to what accumulates during one insert.
    batch_linger_s: float = Field(default=0.2, ge=0)
    # Events Faust buffers for the agent (its stream's queue) before it pauses fetching (Faust's
    # default is 4,096): room for the next batch while the current one is written.
    stream_buffer_maxsize: int = Field(default=20_000, ge=1)
    # ClickHouse retry backoff (exponential, capped); the worker never gives up.
    retry_initial_s: float = Field(default=0.2, gt=0)
    retry_max_s: float = Field(default=5.0, gt=0)
    # Faust's producer (changelog, dead letters): bytes per produce batch. The worker writes a
    # sink batch's changelog records as batches of this size, one produce round trip each per
    # partition (16 KiB: ~85 sequential round trips per 10,000 states; 512 KiB: one or two).
    # Keep it below the broker's message size limit (Kafka's default ``message.max.bytes`` is
    # 1 MiB). Multi-record batches are safe on Tansu: recovery corrects its too-low ListOffsets
    # (``streams.transport``).
    producer_max_batch_size: int = Field(default=524_288, ge=1)
    # How long Faust's producer waits to fill a batch (dead letters).
    producer_linger_s: float = Field(default=0.02, ge=0)
    # Broker-side wait of a fetch with no data (Faust hard-codes 1,500 ms).
    fetch_max_wait_ms: int = Field(default=100, ge=0)
    commit_interval_s: float = Field(default=1.0, gt=0)
    # Monthly summaries for the usage query (``streams.summary``): a round every this many seconds;
    # a month is summarized once no write has touched it for a whole round. 0 turns it off.
    summary_interval_s: float = Field(default=60.0, ge=0)
    log_level: str = "info"
