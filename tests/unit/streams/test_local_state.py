"""Which partitions' local state the changelog no longer has."""

from __future__ import annotations

from pathlib import Path

from streams.local_state import discard_unopenable, read_persisted_offsets, stale_partitions


def test_state_past_the_changelogs_end_is_stale() -> None:
    persisted = {0: 41, 1: 7, 2: 0, 3: 5}
    ends = {0: 42, 1: 7, 2: 1, 3: 0}  # 1: at the end (the record is missing); 3: an empty changelog
    assert stale_partitions(persisted, ends) == [1, 3]


def test_without_a_changelog_every_persisted_partition_is_stale() -> None:
    assert stale_partitions({0: 3, 2: 9}, {}) == [0, 2]
    assert stale_partitions({}, {0: 10}) == []


def test_a_database_left_without_its_current_file_is_discarded(tmp_path: Path) -> None:
    import rocksdict

    paths = {partition: tmp_path / f"replace-state-{partition}.db" for partition in range(3)}
    for partition in (0, 1):
        db = rocksdict.Rdict(str(paths[partition]), rocksdict.Options(raw_mode=True))
        db[b"__faust\x00offset__"] = b"41"
        db.close()
    (paths[1] / "CURRENT").unlink()  # as a worker killed while RocksDB created the database leaves it

    assert discard_unopenable(paths) == [1]
    assert not paths[1].exists() and paths[0].exists()
    assert read_persisted_offsets(paths, b"__faust\x00offset__") == {0: 41}
    assert discard_unopenable(paths) == []  # nothing else to discard: partition 2 never existed
