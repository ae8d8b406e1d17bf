"""The thin ClickHouse adapter: runs the statements of ``query.sql`` and shapes their rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from query import sql
from query.events import event_from_row
from query.search import SearchRequest

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client


@dataclass(frozen=True)
class SearchPage:
    events: list[dict[str, Any]]
    total: int


class EventStore:
    def __init__(self, client: Client) -> None:
        self._client = client

    def org_for_key_hash(self, key_hash: str) -> str | None:
        rows = self._rows(sql.org_for_key_hash(key_hash))
        return str(rows[0][0]) if rows else None

    def fetch(self, org_id: str, event_id: str) -> dict[str, Any] | None:
        rows = self._rows(sql.fetch_event(org_id, event_id))
        return event_from_row(rows[0]) if rows else None

    def search(self, org_id: str, request: SearchRequest) -> SearchPage:
        rows = self._rows(sql.search_page(org_id, request))
        events = [event_from_row(row[:-1]) for row in rows]
        if rows:
            total = int(rows[0][-1])  # every row carries the window count of all matches
        elif request.offset == 0:
            total = 0
        else:  # past the last match: the page holds no row to carry the count
            total = int(self._rows(sql.search_total(org_id, request))[0][0])
        return SearchPage(events, total)

    def _rows(self, statement: sql.Statement) -> list[Any]:
        result = self._client.query(statement.sql, parameters=statement.parameters)
        return list(result.result_rows)
