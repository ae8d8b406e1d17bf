#!/usr/bin/env bash
# bqemulator (the DuckDB-backed BigQuery REST emulator) for the BigQuery source tests, in its own
# venv: it runs DuckDB 1.5, the project's venv DuckDB 2 (fakesnow). The emulator loads DuckDB's
# spatial extension at start-up; DuckDB would download it, so it is installed here from PyPI's
# duckdb-extension-spatial into the venv's own DuckDB home (HOME=.venv-bq/duckdb-home when the
# emulator runs), where `INSTALL spatial; LOAD spatial` then find it without a network.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-bq
REQUIREMENTS=scripts/bqemulator-requirements.txt
stamp=$VENV/.quivly-installed
if [ -f "$stamp" ] && [ ! "$REQUIREMENTS" -nt "$stamp" ]; then
  exit 0
fi
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --no-deps -r "$REQUIREMENTS"
mkdir -p "$VENV/duckdb-home"
HOME="$PWD/$VENV/duckdb-home" "$VENV/bin/python" - <<'PY'
from pathlib import Path

import duckdb
import duckdb_extension_spatial

version = duckdb.sql("PRAGMA version").fetchone()[0]  # v1.5.5: the package's folder name
shipped = Path(duckdb_extension_spatial.__file__).parent / "extensions" / version / "spatial.duckdb_extension"
duckdb.connect().execute(f"FORCE INSTALL '{shipped}'")
check = duckdb.connect()  # what the emulator runs at start-up: finds the installed file, no download
check.execute("INSTALL spatial")
check.execute("LOAD spatial")
assert check.sql("SELECT ST_AsText(ST_Point(1, 2))").fetchone() == ("POINT (1 2)",)
PY
touch "$stamp"
