"""How ``quivly serve-*`` runs a FastAPI service: uvicorn with the project's log format and, with
several workers, Prometheus multi-process mode (one directory of metric files for all workers)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from core.ops.logs import logging_config
from core.ops.metrics import MULTIPROC_ENV
from core.settings import HttpServerSettings
from infra.http_server import uvicorn_options


def prepare_multiprocess_metrics(workers: int) -> str | None:
    """With more than one worker: the metrics directory (set in the environment the workers
    inherit), emptied of a previous run's files; ``None`` with one worker."""
    directory = os.environ.get(MULTIPROC_ENV)
    if workers <= 1 and not directory:
        return None
    if not directory:
        directory = tempfile.mkdtemp(prefix="quivly-metrics-")
        os.environ[MULTIPROC_ENV] = directory
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return directory


def serve_service(factory: str, service: str, host: str, port: int, workers: int) -> None:
    import uvicorn

    prepare_multiprocess_metrics(workers)
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=logging_config(service),
        access_log=False,
        **uvicorn_options(HttpServerSettings()),
    )
