"""The per-partition count cache (pure)."""

from __future__ import annotations

from datetime import date, timedelta

from query.count_cache import (
    DayCounts,
    PartitionCountCache,
    PartitionProfile,
    ProfileFilter,
    merge_day_counts,
)

MAY, JUNE = date(2026, 5, 1), date(2026, 6, 1)


def test_a_partition_is_stale_until_stored_and_again_when_its_parts_change() -> None:
    cache: PartitionCountCache[DayCounts] = PartitionCountCache(capacity=10)
    assert cache.lookup("s", {"202606": "a", "202605": "b"}).stale == ["202605", "202606"]
    cache.store("s", "202605", "b", ((MAY, 4),))
    cache.store("s", "202606", "a", ())
    hit = cache.lookup("s", {"202606": "a", "202605": "b"})
    assert hit.cached == {"202605": ((MAY, 4),), "202606": ()} and hit.stale == []
    changed = cache.lookup("s", {"202606": "a2", "202605": "b"})
    assert changed.stale == ["202606"] and list(changed.cached) == ["202605"]
    assert cache.lookup("other search", {"202605": "b"}).stale == ["202605"]


def test_the_least_recently_used_entries_go_first() -> None:
    cache: PartitionCountCache[DayCounts] = PartitionCountCache(capacity=2)
    cache.store("s", "p1", "f", ())
    cache.store("s", "p2", "f", ())
    cache.lookup("s", {"p1": "f"})  # p1 is now the most recently used
    cache.store("s", "p3", "f", ())
    assert cache.lookup("s", {"p1": "f", "p2": "f", "p3": "f"}).stale == ["p2"]


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache: PartitionCountCache[DayCounts] = PartitionCountCache(capacity=0)
    cache.store("s", "p1", "f", ((MAY, 1),))
    assert cache.lookup("s", {"p1": "f"}).stale == ["p1"]


def test_entries_weigh_what_their_weight_says_and_a_replaced_entry_frees_its_weight() -> None:
    cache: PartitionCountCache[int] = PartitionCountCache(capacity=10, weight=lambda value: value)
    cache.store("s", "p1", "f", 4)
    cache.store("s", "p2", "f", 5)
    cache.store("s", "p1", "f2", 5)  # replaces p1's 4: 10 held, nothing evicted
    assert cache.lookup("s", {"p2": "f", "p1": "f2"}).stale == []  # p1 is now the most recently used
    cache.store("s", "p3", "f", 1)  # 11 > 10: the least recently used (p2) goes
    assert cache.lookup("s", {"p1": "f2", "p2": "f", "p3": "f"}).stale == ["p2"]


JUNE_30, JULY_2 = date(2026, 6, 30), date(2026, 7, 2)
PROFILE = PartitionProfile.from_rows(
    [
        ("calls", "credit", 11, [JUNE, JUNE_30], [3, 4]),
        ("calls", "debit", 11, [JUNE], [5]),
        ("calls", "credit", 22, [JULY_2, JUNE], [1, 2]),  # a weekly value of June can lie in July
        ("seats", "credit", 11, [JUNE_30], [6]),
    ]
)


def test_a_profile_sums_the_keys_that_match_per_day() -> None:
    assert PROFILE.weight == 4
    assert PROFILE.day_counts(ProfileFilter()) == ((JUNE, 10), (JUNE_30, 10), (JULY_2, 1))
    assert PROFILE.day_counts(ProfileFilter(event_type="credit")) == ((JUNE, 5), (JUNE_30, 10), (JULY_2, 1))
    assert PROFILE.day_counts(ProfileFilter(properties={11})) == ((JUNE, 8), (JUNE_30, 10))
    assert PROFILE.day_counts(ProfileFilter(metric_key="seats")) == ((JUNE_30, 6),)
    assert PROFILE.day_counts(ProfileFilter(metric_key="calls", properties={11})) == ((JUNE, 8), (JUNE_30, 4))
    assert PROFILE.day_counts(ProfileFilter(event_type="debit", properties={22})) == ()
    assert PROFILE.day_counts(ProfileFilter(properties=set())) == ()


def test_a_profile_counts_only_the_whole_days_asked_for() -> None:
    assert PROFILE.day_counts(ProfileFilter(first_day=JUNE_30)) == ((JUNE_30, 10), (JULY_2, 1))
    assert PROFILE.day_counts(ProfileFilter(last_day=JUNE_30)) == ((JUNE, 10), (JUNE_30, 10))
    assert PROFILE.day_counts(ProfileFilter(first_day=JUNE_30, last_day=JUNE_30)) == ((JUNE_30, 10),)
    assert PROFILE.day_counts(ProfileFilter(first_day=JULY_2, last_day=JUNE_30)) == ()  # an empty range


def test_an_empty_profile_counts_nothing_and_still_weighs() -> None:
    empty = PartitionProfile.from_rows([])
    assert empty.day_counts(ProfileFilter()) == () and empty.weight == 1
    spread = PartitionProfile.from_rows([("m", "credit", 1, [JUNE + timedelta(days=36)], [2])])
    assert spread.day_counts(ProfileFilter()) == ((JUNE + timedelta(days=36), 2),)


def test_days_are_summed_over_partitions_in_order_without_empty_days() -> None:
    # A weekly value of the May partition can fall in June.
    merged = merge_day_counts([((JUNE, 5),), ((MAY, 10), (JUNE, 2)), ()])
    assert merged == [(MAY, 10), (JUNE, 7)]
    assert merge_day_counts([((MAY, 0),)]) == []
