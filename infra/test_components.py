"""Real components for the test suite, picked in this order:

1. an explicit URL in the environment (``QUIVLY_TEST_KAFKA_BOOTSTRAP_SERVERS``,
   ``QUIVLY_TEST_CLICKHOUSE_URL``);
2. testcontainers, when a Docker engine answers (Apache Kafka in KRaft mode, clickhouse-server);
3. the local stand-ins (Tansu, the chdb endpoint).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
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
        with _apache_kafka_container() as servers:
            yield servers
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
        with _clickhouse_container() as url:
            yield url
        return
    from infra.local_components import LocalClickHouse

    server = LocalClickHouse.start(work_dir / "chdb-data", work_dir / "chdb.log")
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def _apache_kafka_container() -> Iterator[str]:
    """A single-node KRaft broker from the Apache Kafka image.

    testcontainers' ``KafkaContainer`` only drives Confluent images, so the container is plain:
    the host port is fixed up front because the broker must advertise it. The group minimum
    session timeout is lowered so the short test timeouts (4 s) are accepted (Kafka's default is 6 s).
    """
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    from infra.processes import free_port

    port = free_port()
    container = (
        DockerContainer(KAFKA_IMAGE)
        .with_bind_ports(9092, port)
        .with_envs(
            KAFKA_NODE_ID="1",
            KAFKA_PROCESS_ROLES="broker,controller",
            KAFKA_LISTENERS="PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093",
            KAFKA_ADVERTISED_LISTENERS=f"PLAINTEXT://127.0.0.1:{port}",
            KAFKA_CONTROLLER_LISTENER_NAMES="CONTROLLER",
            KAFKA_LISTENER_SECURITY_PROTOCOL_MAP="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            KAFKA_CONTROLLER_QUORUM_VOTERS="1@localhost:9093",
            KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR="1",
            KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR="1",
            KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1",
            KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS="0",
            KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS="1000",
        )
    )
    with container:
        wait_for_logs(container, "Kafka Server started", timeout=90)
        yield f"127.0.0.1:{port}"


@contextmanager
def _clickhouse_container() -> Iterator[str]:
    """clickhouse-server with the stock ``default`` user and no password (test use only)."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import HttpWaitStrategy

    container = (
        DockerContainer(CLICKHOUSE_IMAGE)
        .with_exposed_ports(8123)
        # Without this the image locks the password-less default user to connections from inside.
        .with_env("CLICKHOUSE_SKIP_USER_SETUP", "1")
    )
    with container:
        HttpWaitStrategy(8123, "/ping").for_response_predicate(lambda body: "Ok" in body).wait_until_ready(
            container
        )
        yield f"http://{container.get_container_host_ip()}:{container.get_exposed_port(8123)}"
