"""The per-partition count cache (pure)."""

from __future__ import annotations

from datetime import date

from query.count_cache import PartitionCountCache, merge_day_counts

MAY, JUNE = date(2026, 5, 1), date(2026, 6, 1)


def test_a_partition_is_stale_until_stored_and_again_when_its_parts_change() -> None:
    cache = PartitionCountCache(max_entries=10)
    assert cache.lookup("s", {"202606": "a", "202605": "b"}).stale == ["202605", "202606"]
    cache.store("s", "202605", "b", ((MAY, 4),))
    cache.store("s", "202606", "a", ())
    hit = cache.lookup("s", {"202606": "a", "202605": "b"})
    assert hit.cached == {"202605": ((MAY, 4),), "202606": ()} and hit.stale == []
    changed = cache.lookup("s", {"202606": "a2", "202605": "b"})
    assert changed.stale == ["202606"] and list(changed.cached) == ["202605"]
    assert cache.lookup("other search", {"202605": "b"}).stale == ["202605"]


def test_the_least_recently_used_entries_go_first() -> None:
    cache = PartitionCountCache(max_entries=2)
    cache.store("s", "p1", "f", ())
    cache.store("s", "p2", "f", ())
    cache.lookup("s", {"p1": "f"})  # p1 is now the most recently used
    cache.store("s", "p3", "f", ())
    assert cache.lookup("s", {"p1": "f", "p2": "f", "p3": "f"}).stale == ["p2"]


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache = PartitionCountCache(max_entries=0)
    cache.store("s", "p1", "f", ((MAY, 1),))
    assert cache.lookup("s", {"p1": "f"}).stale == ["p1"]


def test_days_are_summed_over_partitions_in_order_without_empty_days() -> None:
    # A weekly value of the May partition can fall in June.
    merged = merge_day_counts([((JUNE, 5),), ((MAY, 10), (JUNE, 2)), ()])
    assert merged == [(MAY, 10), (JUNE, 7)]
    assert merge_day_counts([((MAY, 0),)]) == []
