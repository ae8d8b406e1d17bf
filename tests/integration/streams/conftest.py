"""Fixtures for the streams tests: a factory of worker processes, all stopped at the end."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.settings import ClickHouseSettings, KafkaSettings
from tests.integration.streams.helpers import WorkerProcess

WorkerFactory = Callable[..., WorkerProcess]


@pytest.fixture
def worker_factory(tmp_path: Path, artifacts_dir: Path) -> Iterator[WorkerFactory]:
    started: list[WorkerProcess] = []

    def make(
        kafka: KafkaSettings,
        clickhouse: ClickHouseSettings,
        app_id: str | None = None,
        data_dir: Path | None = None,
        **extra_env: str,
    ) -> WorkerProcess:
        app = app_id or f"streams-test-{uuid.uuid4().hex[:8]}"
        worker = WorkerProcess(
            kafka=kafka,
            clickhouse=clickhouse,
            data_dir=data_dir or tmp_path / app,
            app_id=app,
            log_path=artifacts_dir / "streams" / f"{app}.log",
            extra_env=dict(extra_env),
        )
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop()
