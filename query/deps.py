"""What the routes need, built once per app and injected (``Annotated`` aliases)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from core.clickhouse import SharedClient
from core.errors import ApiError, unauthorized
from core.settings import ClickHouseSettings
from core.usage_rollup import RecentContexts
from query.auth import KeyResolver, bearer_key
from query.settings import QuerySettings
from query.store import CountCaches, EventStore

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client


class Services:
    """Per-app state: the ClickHouse client (opened on first use), the store, the key resolver, the
    whole-organization count caches and the usage queries' recent contexts."""

    def __init__(self, settings: QuerySettings, clickhouse: ClickHouseSettings) -> None:
        self.settings = settings
        self._client = SharedClient(clickhouse)
        self.caches = CountCaches.from_settings(settings)
        self.keys = KeyResolver(self._key_index, ttl_s=settings.auth_cache_ttl_s)
        self.usage_contexts = RecentContexts()

    def _key_index(self) -> dict[str, str]:
        return self.store().key_index()

    def store(self) -> EventStore:
        return EventStore(self.client(), self.caches)

    def client(self) -> Client:
        return self._client.get()

    def close(self) -> None:
        self.usage_contexts.close()
        self._client.close()


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def current_org(services: ServicesDep, authorization: Annotated[str | None, Header()] = None) -> str:
    """The organization of the bearer key. A cached answer is used on the event loop; a lookup
    (ClickHouse) runs in the thread pool."""
    api_key = bearer_key(authorization)
    if not api_key:
        raise unauthorized()
    hit, org_id = services.keys.cached(api_key)
    if not hit:
        org_id = await run_in_threadpool(services.keys.org_for_key, api_key)
    if org_id is None:
        raise unauthorized()
    return org_id


OrgDep = Annotated[str, Depends(current_org)]


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "Event not found")


def parse_event_id(raw: str) -> str:
    """The canonical form of a UUID; anything else cannot be an event ID (404)."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise not_found() from None
