"""Unit tests run without the network: any attempt to open a TCP connection fails loudly."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest


class NetworkAccessInUnitTest(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise NetworkAccessInUnitTest(f"unit tests must not open connections (tried {address!r})")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect)
    yield


@pytest.fixture
def kafka_bootstrap() -> str:
    raise NetworkAccessInUnitTest("unit tests cannot use Kafka; move the test to tests/integration")


@pytest.fixture
def clickhouse_server_url() -> str:
    raise NetworkAccessInUnitTest("unit tests cannot use ClickHouse; move the test to tests/integration")
