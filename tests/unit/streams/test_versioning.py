"""The three version properties of ARCHITECTURE.md, on the pure decision function."""

from __future__ import annotations

from streams.versioning import KeyState, is_replay, next_state

T0 = 1_780_000_000_000_000  # microseconds


def apply_all(records: list[tuple[int, int, int]], start: KeyState | None = None) -> list[KeyState | None]:
    state, out = start, []
    for partition, offset, ingested in records:
        new = next_state(state, partition, offset, ingested)
        out.append(new)
        state = new or state
    return out


def test_new_key_gets_its_ingestion_time() -> None:
    assert next_state(None, 2, 7, T0) == KeyState(T0, 2, 7, T0)


def test_versions_follow_log_order_even_when_ingestion_clock_goes_back() -> None:
    states = apply_all([(0, 1, T0), (0, 2, T0 - 50), (0, 3, T0), (0, 9, T0 + 10)])
    versions = [s.version for s in states if s is not None]
    assert versions == sorted(versions) and len(set(versions)) == 4
    assert versions == [T0, T0 + 1, T0 + 2, T0 + 10]


def test_replay_of_applied_records_is_skipped() -> None:
    last = KeyState(T0 + 5, 1, 10, T0 + 5)
    assert next_state(last, 1, 10, T0 + 5) is None  # the last applied record itself
    assert next_state(last, 1, 4, T0 + 1) is None  # an earlier one
    assert is_replay(last, 1, 10, T0 + 5)


def test_replay_from_older_state_recomputes_identical_versions() -> None:
    log = [(0, 5, T0), (0, 6, T0 + 3), (0, 7, T0 + 3)]
    base = KeyState(T0 - 100, 0, 4, T0 - 100)
    assert apply_all(log, base) == apply_all(log, base)


def test_write_after_log_reset_with_empty_state_beats_old_versions() -> None:
    old = apply_all([(0, o, T0 + o) for o in range(100)])
    old_max = max(s.version for s in old if s is not None)
    after_reset = next_state(None, 0, 0, T0 + 1_000_000)
    assert after_reset is not None and after_reset.version > old_max


def test_write_after_log_reset_with_stale_state_is_not_taken_for_a_replay() -> None:
    stale = KeyState(T0 + 500, 0, 500, T0 + 500)  # local state survived, the log restarted at 0
    new = next_state(stale, 0, 3, T0 + 2_000)
    assert new is not None and new.version > stale.version and new.offset == 3
    # and from there the new log's order holds again
    newer = next_state(new, 0, 4, T0 + 2_001)
    assert newer is not None and newer.version > new.version


def test_other_partition_is_never_a_replay_by_offset() -> None:
    last = KeyState(T0, 1, 10, T0)
    moved = next_state(last, 2, 3, T0)
    assert moved is not None and moved.version == T0 + 1


def test_state_round_trips_as_bytes() -> None:
    state = KeyState(T0, 3, 123456789, T0 - 1)
    assert KeyState.from_bytes(state.to_bytes()) == state
