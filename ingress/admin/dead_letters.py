"""``GET /admin/v1/orgs/{org_id}/dead-letters``: the organization's dead letters, newest first.

Reads ``usage_dead_letters`` (fed by the streams worker from the dead-letter topic, migration
0065). Admin auth comes from the admin router this one is included in; ClickHouse unreachable is
the edge's 503 with ``Retry-After`` (``core.edge``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from core.clickhouse import make_client
from core.dead_letters import MAX_LIST, select_dead_letters
from core.errors import ApiError, validation_failed
from core.settings import ClickHouseSettings


def parse_moment(text: str | None, path: str) -> datetime | None:
    """An RFC 3339 moment with a time zone, or a 422 on ``path``."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            raise ValueError("no time zone")
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _invalid(path, "must be an RFC 3339 date-time with a time zone") from None


def _invalid(path: str, message: str) -> ApiError:
    return validation_failed([{"path": path, "message": message}])


def build_dead_letters_router(clickhouse: ClickHouseSettings) -> APIRouter:
    router = APIRouter()

    @router.get("/orgs/{org_id}/dead-letters")
    async def list_dead_letters(
        org_id: str, since: str | None = None, until: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        """Records of the organization the streams worker could not store, newest first.

        `since`/`until` (RFC 3339) bound when they were dead-lettered; `limit` is 1 to 1000.
        Each has its `id` (for `quivly dead-letters replay --id`), `reason`, `source`
        (topic/partition/offset), and the original `key` and `record`.
        """
        if not 1 <= limit <= MAX_LIST:
            raise _invalid("limit", f"must be between 1 and {MAX_LIST}")
        start, end = parse_moment(since, "since"), parse_moment(until, "until")

        def read() -> dict[str, Any]:
            client = make_client(clickhouse)
            try:
                letters = select_dead_letters(client, org_id=org_id, since=start, until=end, limit=limit)
            finally:
                client.close()
            return {"org_id": org_id, "dead_letters": [letter.to_json() for letter in letters]}

        return await run_in_threadpool(read)

    return router
