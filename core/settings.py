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

    # Comma-separated host:port of the brokers.
    bootstrap_servers: str = "127.0.0.1:9092"
    # The topic of accepted usage records (keyed by the replace key).
    usage_topic: str = "usage-events"
    # Where the streams worker puts records it cannot store.
    dead_letter_topic: str = "usage-events-dlq"
    # Shape of the topics created by `quivly provision-topics` (a changed partition count is refused).
    partitions: int = Field(default=6, ge=1)
    # Copies of each partition (3 on a production cluster; acks=all waits for the in-sync ones).
    replication_factor: int = Field(default=1, ge=1)
    # Kafka refuses sessions under group.min.session.timeout.ms (6 s by default). The local run
    # and the tests use 4000/1000 with Tansu, whose group joins wait on the session timeout.
    session_timeout_ms: int = 10000
    # How often a consumer tells the group it is alive (a third of the session timeout or less).
    heartbeat_interval_ms: int = 3000

    # How long a client waits for any broker answer before failing the request.
    request_timeout_ms: int = 10000


class ClickHouseSettings(BaseSettings):
    """Where ClickHouse lives. ``url`` is any ClickHouse HTTP(S) endpoint."""

    model_config = SettingsConfigDict(env_prefix="QUIVLY_CLICKHOUSE_", extra="ignore")

    # Any ClickHouse HTTP(S) endpoint (an https URL uses TLS).
    url: str = "http://127.0.0.1:8123"
    # The database every table lives in (created by `quivly migrate`).
    database: str = "quivly"
    # The ClickHouse user and its password.
    username: str = "default"
    # The password of that user (empty: none).
    password: str = ""

    # Time to open a connection; past it the request fails (the API answers 503 UNAVAILABLE).
    connect_timeout_s: float = 5.0
    # Time to send a statement and receive its whole answer; past it the request fails (503).
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

    # The admin API's and the panel's bearer token; empty: both open to nobody.
    admin_token: str = ""
    # The public URL of the API, used in the push endpoint and curl example the admin API shows.
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
