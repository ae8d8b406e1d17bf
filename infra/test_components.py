"""Real components for the test suite, picked in this order:

1. an explicit URL in the environment (``QUIVLY_TEST_KAFKA_BOOTSTRAP_SERVERS``,
   ``QUIVLY_TEST_CLICKHOUSE_URL``);
2. testcontainers, when a Docker engine answers (Apache Kafka in KRaft mode, clickhouse-server);
3. the local stand-ins (Tansu, the chdb endpoint).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

KAFKA_IMAGE = "apache/kafka:3.9.1"
CLICKHOUSE_IMAGE = "clickhouse/clickhouse-server:25.8"


def docker_available() -> bool:
    if os.environ.get("QUIVLY_TEST_NO_DOCKER") == "1":
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@contextmanager
def kafka_bootstrap_servers(work_dir: Path) -> Iterator[str]:
    explicit = os.environ.get("QUIVLY_TEST_KAFKA_BOOTSTRAP_SERVERS")
    if explicit:
        yield explicit
        return
    if docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    from infra.local_components import LocalBroker

    broker = LocalBroker.start(work_dir / "tansu.log")
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@contextmanager
def clickhouse_url(work_dir: Path) -> Iterator[str]:
    explicit = os.environ.get("QUIVLY_TEST_CLICKHOUSE_URL")
    if explicit:
        yield explicit
        return
    if docker_available():
        from testcontainers.clickhouse import ClickHouseContainer

        with ClickHouseContainer(CLICKHOUSE_IMAGE, username="default", password="") as container:
            yield f"http://{container.get_container_host_ip()}:{container.get_exposed_port(8123)}"
        return
    from infra.local_components import LocalClickHouse

    server = LocalClickHouse.start(work_dir / "chdb-data", work_dir / "chdb.log")
    try:
        yield server.url
    finally:
        server.stop()


ComponentFactory = Callable[[Path], AbstractContextManager[str]]
