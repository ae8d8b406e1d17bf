#!/usr/bin/env bash
# Fresh machine → the whole service running locally (broker, ClickHouse, ingress, streams, query).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/quivly dev
