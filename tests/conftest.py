"""Shared fixtures: the real Kafka and ClickHouse, started once per session.

Tests that use Kafka must carry ``@pytest.mark.kafka``; tests that use ClickHouse
``@pytest.mark.clickhouse``. Each test gets its own topics and its own migrated database.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.clickhouse import make_client
from core.settings import ClickHouseSettings, KafkaSettings
from infra.migrate import apply_migrations
from infra.test_components import clickhouse_url, kafka_bootstrap_servers
from infra.topics import provision_topics

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def pytest_configure(config: pytest.Config) -> None:
    # Short consumer-group timeouts for every worker the tests start (Tansu's joins wait on them;
    # the testcontainers broker lowers Kafka's minimum to allow them).
    os.environ.setdefault("QUIVLY_KAFKA_SESSION_TIMEOUT_MS", "4000")
    os.environ.setdefault("QUIVLY_KAFKA_HEARTBEAT_INTERVAL_MS", "1000")


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def _require_marker(request: pytest.FixtureRequest, marker: str) -> None:
    if request.node.get_closest_marker(marker) is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses a real component: mark it @pytest.mark.{marker}")


@pytest.fixture(scope="session")
def components_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("components")


@pytest.fixture(scope="session")
def kafka_bootstrap(components_dir: Path) -> Iterator[str]:
    with kafka_bootstrap_servers(components_dir) as servers:
        yield servers


@pytest.fixture(scope="session")
def clickhouse_server_url(components_dir: Path) -> Iterator[str]:
    with clickhouse_url(components_dir) as url:
        yield url


@pytest.fixture
def kafka_settings(request: pytest.FixtureRequest, kafka_bootstrap: str) -> KafkaSettings:
    """Settings pointing at the broker, with topics unique to this test (already created)."""
    _require_marker(request, "kafka")
    topic = unique_name("usage")
    settings = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        usage_topic=topic,
        dead_letter_topic=f"{topic}_dlq",
        partitions=3,
    )
    asyncio.run(provision_topics(settings))
    return settings


@pytest.fixture
def clickhouse_settings(
    request: pytest.FixtureRequest, clickhouse_server_url: str
) -> Iterator[ClickHouseSettings]:
    """Settings pointing at a fresh database with every migration applied; dropped afterwards."""
    _require_marker(request, "clickhouse")
    settings = ClickHouseSettings(url=clickhouse_server_url, database=unique_name("test"))
    apply_migrations(settings)
    yield settings
    make_client(settings, database="default").command(f"DROP DATABASE IF EXISTS `{settings.database}`")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
