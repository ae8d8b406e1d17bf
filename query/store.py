"""The thin ClickHouse adapter: runs the statements of ``query.sql`` and shapes their rows."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from query import sql
from query.count_cache import (
    DayCounts,
    PartitionCountCache,
    PartitionProfile,
    ProfileFilter,
    merge_day_counts,
)
from query.events import event_from_row
from query.paging import page_window, partitions_in_range, split_days
from query.plan import SearchPlan, plan_search
from query.search import DEFAULT_LIMIT, SearchRequest
from query.settings import QuerySettings

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client


@dataclass(frozen=True)
class SearchPage:
    events: list[dict[str, Any]]
    total: int


@dataclass(frozen=True)
class CountCaches:
    """What whole-organization searches keep between requests (one per app, ``query.count_cache``):
    partition profiles per organization, and day counts per search for what profiles don't answer.
    Capacity 0 turns a cache off."""

    profiles: PartitionCountCache[PartitionProfile | None]
    counts: PartitionCountCache[DayCounts]
    max_profile_keys: int  # per partition; a partition with more keys is counted per search

    @classmethod
    def from_settings(cls, settings: QuerySettings) -> CountCaches:
        return cls.create(
            profile_keys=settings.profile_cache_max_keys,
            max_profile_keys=settings.profile_max_keys_per_partition,
            count_entries=settings.count_cache_max_entries,
        )

    @classmethod
    def create(cls, profile_keys: int, max_profile_keys: int, count_entries: int) -> CountCaches:
        def weight(profile: PartitionProfile | None) -> int:
            return 1 if profile is None else profile.weight

        return cls(
            PartitionCountCache(profile_keys, weight), PartitionCountCache(count_entries), max_profile_keys
        )


class EventStore:
    """``caches`` keeps whole-organization counts between searches; without it every such search
    counts every partition."""

    def __init__(self, client: Client, caches: CountCaches | None = None) -> None:
        self._client = client
        self._caches = caches or CountCaches.create(0, 0, 0)

    def key_index(self) -> dict[str, str]:
        """Every organization's current key hash -> org_id."""
        rows = self._rows(sql.current_key_hashes())
        return {str(key_hash): str(org_id) for org_id, key_hash in rows if key_hash}

    def fetch(self, org_id: str, event_id: str) -> dict[str, Any] | None:
        rows = self._rows(sql.fetch_event(org_id, event_id))
        return event_from_row(rows[0]) if rows else None

    def search(self, org_id: str, request: SearchRequest) -> SearchPage:
        plan = plan_search(request, profiles_on=self._caches.profiles.capacity > 0)
        if plan.one_step:
            return self._search_in_one_step(org_id, request)
        return self._search_in_two_steps(org_id, request, plan)

    def _search_in_one_step(self, org_id: str, request: SearchRequest) -> SearchPage:
        """Few matches (a customer's values, a short time range): whole events in one query."""
        rows = self._rows(sql.search_page(org_id, request))
        events = [event_from_row(row[:-1]) for row in rows]
        return SearchPage(events, self._total(org_id, request, rows))

    def _search_in_two_steps(self, org_id: str, request: SearchRequest, plan: SearchPlan) -> SearchPage:
        """Possibly millions of matches. Count them per day of created_at (the exact total, no
        sort; cached per partition), then read and order only the days holding the page, in the
        period-ordered copy (a few contiguous ranges)."""
        counts = self._day_counts(org_id, request, plan.profiled)
        total = sum(count for _, count in counts)
        window = page_window(counts, request.offset, request.limit)
        if window is None:
            return SearchPage([], total)
        wanted_from, wanted_to = request.created_at_from_us, request.created_at_to_us
        narrowed = replace(
            request,
            created_at_from_us=window.from_us if wanted_from is None else max(window.from_us, wanted_from),
            created_at_to_us=window.to_us if wanted_to is None else min(window.to_us, wanted_to),
            offset=window.offset,
        )
        rows = self._rows(sql.page_of_matches(org_id, narrowed))
        return SearchPage([event_from_row(row) for row in rows], total)

    def _day_counts(self, org_id: str, request: SearchRequest, profiled: bool) -> list[tuple[Any, int]]:
        """Matches per day: from the partitions' profiles where they answer the request, otherwise
        per search; cached partitions as they were, the others (parts changed) counted now. Only
        the partitions the created_at range can reach are read."""
        every = {str(row[0]): str(row[1]) for row in self._rows(sql.partition_fingerprints())}
        reachable = partitions_in_range(sorted(every), request.created_at_from_us, request.created_at_to_us)
        fingerprints = {partition: every[partition] for partition in reachable}
        pieces: list[DayCounts] = []
        if profiled:
            profiles = self._profiles(org_id, fingerprints)
            pieces += self._profiled_counts(org_id, request, profiles)
            fingerprints = {p: f for p, f in fingerprints.items() if p not in profiles}
        pieces += self._searched_counts(org_id, request, fingerprints).values()
        return merge_day_counts(pieces)

    def _profiles(self, org_id: str, fingerprints: dict[str, str]) -> dict[str, PartitionProfile]:
        """The organization's profile of every partition that has one (not too many keys)."""
        cache, max_keys = self._caches.profiles, self._caches.max_profile_keys
        lookup = cache.lookup(org_id, fingerprints)
        profiles = {partition: profile for partition, profile in lookup.cached.items() if profile is not None}
        if not lookup.stale:
            return profiles
        rows: dict[str, list[Any]] = {partition: [] for partition in lookup.stale}
        for partition, metric_key, event_type, properties_hash, days, values in self._rows(
            sql.partition_profiles(org_id, lookup.stale, max_keys + 1)
        ):
            rows[str(partition)].append(
                (str(metric_key), str(event_type), int(properties_hash), days, values)
            )
        for partition, keys in rows.items():
            profile = PartitionProfile.from_rows(keys) if len(keys) <= max_keys else None
            cache.store(org_id, partition, fingerprints[partition], profile)
            if profile is not None:
                profiles[partition] = profile
        return profiles

    def _profiled_counts(
        self, org_id: str, request: SearchRequest, profiles: dict[str, PartitionProfile]
    ) -> list[DayCounts]:
        """The whole days of the created_at range from the profiles; its partial first and last
        days counted exactly, in the profiled partitions (a day's values: a few ranges of the
        period-ordered copy)."""
        if not profiles:
            return []
        matching: frozenset[int] | None = None
        if request.property_filters:
            rows = self._rows(sql.matching_property_sets(org_id, request))
            matching = frozenset(int(row[0]) for row in rows)
        days = split_days(request.created_at_from_us, request.created_at_to_us)
        wanted = ProfileFilter(
            request.event_code, request.event_type, matching, days.first_day, days.last_day
        )
        pieces = [profile.day_counts(wanted) for profile in profiles.values()]
        for day, from_us, to_us in days.partial:
            window = replace(request, created_at_from_us=from_us, created_at_to_us=to_us)
            count = int(self._rows(sql.count_matches(org_id, window, sorted(profiles)))[0][0])
            pieces.append(((day, count),))
        return pieces

    def _searched_counts(
        self, org_id: str, request: SearchRequest, fingerprints: dict[str, str]
    ) -> dict[str, DayCounts]:
        """This search's matches per day in these partitions (cached per search and partition)."""
        if not fingerprints:
            return {}
        search = repr((org_id, replace(request, limit=DEFAULT_LIMIT, offset=0)))
        lookup = self._caches.counts.lookup(search, fingerprints)
        counts = lookup.cached
        if lookup.stale:
            fresh: dict[str, list[tuple[Any, int]]] = {partition: [] for partition in lookup.stale}
            for partition, day, count in self._rows(sql.day_counts(org_id, request, lookup.stale)):
                fresh[str(partition)].append((day, int(count)))
            for partition, rows in fresh.items():
                day_counts: DayCounts = tuple(rows)
                self._caches.counts.store(search, partition, fingerprints[partition], day_counts)
                counts[partition] = day_counts
        return counts

    def _total(self, org_id: str, request: SearchRequest, rows: list[Any]) -> int:
        if rows:
            return int(rows[0][-1])  # every row of a page carries the window count of all matches
        if request.offset == 0:
            return 0
        # Past the last match: the page holds no row to carry the count.
        return int(self._rows(sql.count_matches(org_id, request))[0][0])

    def _rows(self, statement: sql.Statement) -> list[Any]:
        result = self._client.query(statement.sql, parameters=statement.parameters)
        return list(result.result_rows)
