"""Which partitions' local state the changelog no longer has."""

from __future__ import annotations

from streams.local_state import stale_partitions


def test_state_past_the_changelogs_end_is_stale() -> None:
    persisted = {0: 41, 1: 7, 2: 0, 3: 5}
    ends = {0: 42, 1: 7, 2: 1, 3: 0}  # 1: at the end (the record is missing); 3: an empty changelog
    assert stale_partitions(persisted, ends) == [1, 3]


def test_without_a_changelog_every_persisted_partition_is_stale() -> None:
    assert stale_partitions({0: 3, 2: 9}, {}) == [0, 2]
    assert stale_partitions({}, {0: 10}) == []
