"""The pure parts of the migration runner: splitting files into statements, ordering files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.migrate import discover_migrations, split_statements


def test_split_statements_on_semicolons_at_end_of_line() -> None:
    sql = """
-- a comment; with a semicolon;
CREATE TABLE IF NOT EXISTS a
(
    x String COMMENT 'has ; inside'
)
ENGINE = MergeTree ORDER BY x;

  -- indented comment
CREATE VIEW IF NOT EXISTS b AS SELECT 1;
"""
    statements = split_statements(sql)
    assert len(statements) == 2
    assert statements[0].startswith("CREATE TABLE IF NOT EXISTS a")
    assert "x String COMMENT 'has ; inside'" in statements[0]
    assert statements[0].endswith("ORDER BY x")
    assert statements[1] == "CREATE VIEW IF NOT EXISTS b AS SELECT 1"
    assert not any("comment" in s.lower() and s.startswith("--") for s in statements)


def test_split_statements_of_empty_or_comment_only_text() -> None:
    assert split_statements("") == []
    assert split_statements("-- only a comment;\n\n") == []


def test_split_statement_without_final_semicolon() -> None:
    assert split_statements("SELECT 1;\nSELECT 2") == ["SELECT 1", "SELECT 2"]


def test_discover_migrations_orders_by_number_and_skips_other_files(tmp_path: Path) -> None:
    for name in ["0010_late.sql", "0002_second.sql", "0001_first.sql", "0002_second.down.sql", "README.md"]:
        (tmp_path / name).write_text("SELECT 1;\n")
    found = discover_migrations(tmp_path)
    assert [(m.number, m.name) for m in found] == [(1, "first"), (2, "second"), (10, "late")]
    assert found[1].down_path == tmp_path / "0002_second.down.sql"


def test_discover_migrations_refuses_duplicate_numbers(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;\n")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;\n")
    with pytest.raises(ValueError, match="share a number"):
        discover_migrations(tmp_path)


def test_the_shipped_migrations_are_numbered_and_idempotent() -> None:
    found = discover_migrations()
    assert found, "no migrations shipped"
    assert [m.number for m in found] == sorted({m.number for m in found})
    for migration in found:
        for statement in split_statements(migration.path.read_text()):
            head = " ".join(statement.split()[:6]).upper()
            if head.startswith("CREATE") and "OR REPLACE" not in head:
                assert "IF NOT EXISTS" in " ".join(statement.split()[:8]).upper(), (migration.path.name, head)


_SAFE_TO_RUN_AGAIN = re.compile(
    r"^(CREATE (TABLE|VIEW|MATERIALIZED VIEW) IF NOT EXISTS|CREATE OR REPLACE VIEW"
    r"|ALTER TABLE \w+ (ADD (INDEX|COLUMN) IF NOT EXISTS|MATERIALIZE INDEX|COMMENT COLUMN)"
    r"|TRUNCATE TABLE IF EXISTS"
    r"|INSERT INTO (?P<table>\w+)\s+SELECT)",
    re.IGNORECASE,
)


def _replacing_tables(statements: list[str]) -> set[str]:
    created = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)\s*\(.*ENGINE\s*=\s*ReplacingMergeTree", re.S)
    return {match.group(1) for statement in statements if (match := created.match(statement))}


def test_a_half_applied_migration_can_be_applied_again() -> None:
    """Every statement of every migration is one infra/migrate.py says is safe to run twice;
    a backfill INSERT ... SELECT only into a ReplacingMergeTree the same file creates."""
    for migration in discover_migrations():
        statements = split_statements(migration.path.read_text())
        replacing = _replacing_tables(statements)
        for statement in statements:
            match = _SAFE_TO_RUN_AGAIN.match(statement)
            assert match, f"{migration.path.name}: not safe to run again: {statement[:80]}"
            table = match.group("table")
            assert table is None or table in replacing, (
                f"{migration.path.name}: backfill into {table}, not a ReplacingMergeTree of this file"
            )
