#!/usr/bin/env bash
# Fresh machine → everything installed → the whole test suite, against real Kafka-protocol and
# ClickHouse engines (local stand-ins, or testcontainers where Docker runs, or URLs from the env).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/install-browser.sh
bash scripts/install-prometheus.sh
bash scripts/install-bqemulator.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
