"""Numbered ClickHouse migrations: ``infra/migrations/NNNN_name.sql``, applied once, in order.

Each applied file is recorded in ``schema_migrations`` after its last statement. A migration
interrupted half-way is applied again from its first statement, which is safe because a migration
holds only these kinds of statements (``tests/unit/infra/test_migrate.py`` refuses any other):

* ``CREATE TABLE / VIEW / MATERIALIZED VIEW IF NOT EXISTS`` and ``ALTER TABLE ... IF NOT EXISTS``:
  nothing happens the second time;
* ``CREATE OR REPLACE VIEW``: the same view again;
* ``ALTER TABLE ... MATERIALIZE INDEX``: rebuilds the index again, same result;
* ``ALTER TABLE ... COMMENT COLUMN``: the same comment again;
* ``TRUNCATE TABLE IF EXISTS``, for data made again from other tables (monthly summaries): empty
  again, same result;
* a backfill ``INSERT INTO t SELECT ...`` where ``t`` is a ``ReplacingMergeTree`` created in the
  same file: run again, it inserts every row a second time. The copies have the row's sorting key
  and version, so they collapse like versions do, and every reader reads these tables with
  ``FINAL`` (or the newest version): reads are correct before the background merge removes them.
  Until that merge the table takes up to twice its size.

A file ``NNNN_name.down.sql`` beside it, when present, is the backwards step (``quivly migrate --down``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from core.clickhouse import make_client
from core.names import SCHEMA_MIGRATIONS
from core.settings import ClickHouseSettings

_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    path: Path

    @property
    def down_path(self) -> Path:
        return self.path.with_name(f"{self.path.stem}.down.sql")


def discover_migrations(folder: Path | None = None) -> list[Migration]:
    folder = folder or Path(str(resources.files("infra") / "migrations"))
    found = []
    for path in folder.iterdir():
        match = _MIGRATION_FILE.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), path))
    found.sort(key=lambda m: m.number)
    numbers = [m.number for m in found]
    if len(numbers) != len(set(numbers)):
        raise ValueError(f"two migrations share a number in {folder}")
    return found


def split_statements(sql: str) -> list[str]:
    """Statements end with ``;`` at the end of a line; ``--`` comment lines are dropped."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in re.split(r";\s*$", "\n".join(lines), flags=re.M) if part.strip()]


def apply_migrations(settings: ClickHouseSettings, database: str | None = None) -> list[Migration]:
    """Creates the database if needed and applies every pending migration. Returns those applied."""
    database = database or settings.database
    admin = make_client(settings, database="default")
    admin.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    client = make_client(settings, database=database)
    client.command(
        f"CREATE TABLE IF NOT EXISTS {SCHEMA_MIGRATIONS} "
        "(number UInt32, name String, applied_at DateTime64(3, 'UTC')) "
        "ENGINE = ReplacingMergeTree ORDER BY number"
    )
    applied = {row[0] for row in client.query(f"SELECT number FROM {SCHEMA_MIGRATIONS} FINAL").result_rows}
    newly_applied = []
    for migration in discover_migrations():
        if migration.number in applied:
            continue
        for statement in split_statements(migration.path.read_text()):
            client.command(statement)
        client.insert(
            SCHEMA_MIGRATIONS,
            [[migration.number, migration.name, datetime.now(UTC)]],
            column_names=["number", "name", "applied_at"],
        )
        newly_applied.append(migration)
    return newly_applied


def revert_last_migration(settings: ClickHouseSettings, database: str | None = None) -> Migration | None:
    """Runs the backwards step of the newest applied migration, if it has one."""
    database = database or settings.database
    client = make_client(settings, database=database)
    rows = client.query(f"SELECT max(number) FROM {SCHEMA_MIGRATIONS} FINAL").result_rows
    newest = rows[0][0] if rows else 0
    migration = next((m for m in discover_migrations() if m.number == newest), None)
    if migration is None or not migration.down_path.exists():
        return None
    for statement in split_statements(migration.down_path.read_text()):
        client.command(statement)
    client.command(f"DELETE FROM {SCHEMA_MIGRATIONS} WHERE number = {{n:UInt32}}", parameters={"n": newest})
    return migration
