"""Writes docs/settings.md from the pydantic settings classes: ``python -m infra.settings_doc``.

Every ``BaseSettings`` class in the project's packages is found by reading the sources, imported,
and listed with each variable's name, default and the comment written above its field.
``--check`` exits 1 when the file is stale (``tests/unit/infra/test_settings_doc.py`` does the
same in the test suite).
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path
from typing import Any

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "ingress", "query", "streams", "infra")
OUTPUT = ROOT / "docs" / "settings.md"

HEADER = """# Settings

Every setting is an environment variable (prefix `QUIVLY_`), read by the pydantic settings class
named in each section and injected into the service at start-up. Generated from the classes by
`python -m infra.settings_doc` (a test fails when this file is stale): edit the comments above the
fields, not this file.
"""


def settings_classes() -> list[type[BaseSettings]]:
    """Every ``BaseSettings`` subclass defined in the project's packages, in source order."""
    found: list[type[BaseSettings]] = []
    for path in sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [node.name for node in tree.body if isinstance(node, ast.ClassDef) and _is_settings(node)]
        if not names:
            continue
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        found += [getattr(module, name) for name in names]
    return found


def _is_settings(node: ast.ClassDef) -> bool:
    return any(isinstance(base, ast.Name) and base.id == "BaseSettings" for base in node.bases)


def field_comments(cls: type[BaseSettings]) -> dict[str, str]:
    """Each field's comment: the comment block right above it."""
    source_path = Path(sys.modules[cls.__module__].__file__ or "")
    lines = source_path.read_text(encoding="utf-8").splitlines()
    (node,) = [
        n for n in ast.parse("\n".join(lines)).body if isinstance(n, ast.ClassDef) and n.name == cls.__name__
    ]
    comments: dict[str, str] = {}
    for statement in node.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            comments[statement.target.id] = _comment_above(lines, statement.lineno - 2)
    return comments


def _comment_above(lines: list[str], index: int) -> str:
    block: list[str] = []
    while index >= 0 and lines[index].strip().startswith("#"):
        block.insert(0, lines[index].strip().lstrip("#").strip())
        index -= 1
    return " ".join(block)


def render() -> str:
    parts = [HEADER]
    for cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        doc = (cls.__doc__ or "").strip().splitlines()
        parts.append(f"\n## `{cls.__name__}` ({cls.__module__})\n")
        if doc:
            parts.append(f"\n{doc[0]}\n")
        parts.append("\n| variable | default | meaning |\n|---|---|---|\n")
        comments = field_comments(cls)
        for name, info in cls.model_fields.items():
            variable = _variable(prefix, name, info)
            parts.append(f"| `{variable}` | {_default(info)} | {_escape(comments.get(name, ''))} |\n")
    return "".join(parts)


def _variable(prefix: str, name: str, info: FieldInfo) -> str:
    """The environment variable: an alias when the field declares one, else prefix + name."""
    alias = info.validation_alias
    if isinstance(alias, str):
        return alias.upper()
    if isinstance(alias, AliasChoices):
        return " or ".join(str(choice).upper() for choice in alias.choices if isinstance(choice, str))
    return f"{prefix}{name}".upper()


def _default(info: FieldInfo) -> str:
    value: Any = info.default
    if value is PydanticUndefined:
        return "(required)" if info.default_factory is None else "(computed)"
    if value is None or str(value) == "":
        return "(empty)"
    return f"`{value}`"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is stale: run python -m infra.settings_doc", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
