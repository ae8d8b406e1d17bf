"""Dead letters: the headers the worker puts on them and the ClickHouse table that keeps them.

The streams worker produces a record it cannot store to the dead-letter topic (original key and
value, headers ``quivly-error`` and ``quivly-source``); its recorder copies every record of that
topic into ``usage_dead_letters`` (migration 0065). The admin API and the ``quivly dead-letters``
commands read the table through ``select_dead_letters``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from core.periods import format_utc

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

DEAD_LETTERS = "usage_dead_letters"
ERROR_HEADER = "quivly-error"
SOURCE_HEADER = "quivly-source"
REPLAYED_FROM_HEADER = "quivly-replayed-from"

DEAD_LETTER_COLUMNS: tuple[str, ...] = (
    "org_id",
    "letter_id",
    "dead_lettered_at",
    "reason",
    "source",
    "record_key",
    "record",
    "dead_letter_offset",
)
MAX_LIST = 1000


def letter_id(source: str) -> str:
    """The letter's ID from the original record's position: the same letter sent twice, one ID."""
    return str(uuid.UUID(bytes=hashlib.blake2b(source.encode(), digest_size=16).digest()))


def org_of(key: bytes | None, value: bytes | None) -> str:
    """The organization of a dead-lettered record, read as far as it can be ('' when it cannot)."""
    for raw, pick in ((value, _org_from_value), (key, _org_from_key)):
        if raw:
            try:
                org = pick(orjson.loads(raw))
            except (orjson.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(org, str):
                return org
    return ""


def _org_from_value(parsed: Any) -> Any:
    return parsed.get("org_id") if isinstance(parsed, dict) else None


def _org_from_key(parsed: Any) -> Any:
    return parsed[0] if isinstance(parsed, list) and parsed else None


@dataclass(frozen=True)
class StoredDeadLetter:
    org_id: str
    letter_id: str
    dead_lettered_at: datetime
    reason: str
    source: str
    record_key: bytes
    record: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.letter_id,
            "org_id": self.org_id,
            "dead_lettered_at": format_utc(self.dead_lettered_at, milliseconds=True),
            "reason": self.reason,
            "source": self.source,
            "key": self.record_key.decode("utf-8", "replace"),
            "record": self.record.decode("utf-8", "replace"),
        }


def select_dead_letters(
    client: Client,
    org_id: str | None = None,
    ids: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = MAX_LIST,
) -> list[StoredDeadLetter]:
    """Dead letters matching every given filter, newest first (at most ``limit``)."""
    where = ["1"]
    parameters: dict[str, Any] = {"limit": limit}
    if org_id is not None:
        where.append("org_id = {org:String}")
        parameters["org"] = org_id
    if ids:
        where.append("letter_id IN {ids:Array(UUID)}")
        parameters["ids"] = [str(uuid.UUID(i)) for i in ids]
    if since is not None:
        where.append("dead_lettered_at >= {since:DateTime64(3, 'UTC')}")
        parameters["since"] = since
    if until is not None:
        where.append("dead_lettered_at < {until:DateTime64(3, 'UTC')}")
        parameters["until"] = until
    result = client.query(
        f"SELECT org_id, toString(letter_id), dead_lettered_at, reason, source, record_key, record "
        f"FROM {DEAD_LETTERS} FINAL WHERE {' AND '.join(where)} "
        "ORDER BY dead_lettered_at DESC, letter_id LIMIT {limit:UInt32}",
        parameters=parameters,
        column_formats={"record_key": "bytes", "record": "bytes"},
    )
    return [
        StoredDeadLetter(str(o), str(i), _utc(at), str(r), str(s), bytes(k), bytes(v))
        for o, i, at, r, s, k, v in result.result_rows
    ]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
