"""Settings shared by every service, read from the environment (prefix ``QUIVLY_``).

Each service builds these once at start-up and injects them; nothing here is module-level state.
"""

from __future__ import annotations

from urllib.parse import urlparse

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """Where the event log lives and how its topics are shaped."""

    model_config = SettingsConfigDict(env_prefix="QUIVLY_KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    usage_topic: str = "usage-events"
    dead_letter_topic: str = "usage-events-dlq"
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # Kafka refuses sessions under group.min.session.timeout.ms (6 s by default). The local run
    # and the tests use 4000/1000 with Tansu, whose group joins wait on the session timeout.
    session_timeout_ms: int = 10000
    heartbeat_interval_ms: int = 3000
    request_timeout_ms: int = 10000


class ClickHouseSettings(BaseSettings):
    """Where ClickHouse lives. ``url`` is any ClickHouse HTTP(S) endpoint."""

    model_config = SettingsConfigDict(env_prefix="QUIVLY_CLICKHOUSE_", extra="ignore")

    url: str = "http://127.0.0.1:8123"
    database: str = "quivly"
    username: str = "default"
    password: str = ""
    connect_timeout_s: float = 5.0
    send_receive_timeout_s: float = 30.0

    @property
    def host(self) -> str:
        return urlparse(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parsed = urlparse(self.url)
        if parsed.port:
            return parsed.port
        return 8443 if parsed.scheme == "https" else 8123

    @property
    def secure(self) -> bool:
        return urlparse(self.url).scheme == "https"


class AdminSettings(BaseSettings):
    """The bearer token that opens the admin API and the panel."""

    model_config = SettingsConfigDict(env_prefix="QUIVLY_", extra="ignore")

    admin_token: str = ""
    public_base_url: str = "http://127.0.0.1:8000"
    # Largest admin API request body (an upsert of 100,000 customers with two external IDs each
    # is ~15 MB); larger bodies are refused with 413 before they are read.
    admin_max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)


class HttpServerSettings(BaseSettings):
    """How every HTTP process meets proxies and slow clients (see infra/http_server.py)."""

    model_config = SettingsConfigDict(env_prefix="QUIVLY_HTTP_", extra="ignore")

    # Addresses (comma-separated IPs or networks, or "*") whose X-Forwarded-Proto/-For are believed:
    # list the TLS-terminating proxy so that requests through it count as https.
    forwarded_allow_ips: str = "127.0.0.1"
    # A request whose line and headers take longer than this is answered 408 and closed.
    header_timeout_s: float = Field(default=10.0, gt=0)
    # A request body that stops arriving for this long is answered 408 and closed.
    body_timeout_s: float = Field(default=10.0, gt=0)
    # Idle kept-alive connections are closed after this many seconds.
    keep_alive_timeout_s: int = Field(default=5, ge=1)
    # Open connections per process past which a new request is answered 503 at once.
    max_connections: int = Field(default=1000, ge=1)
