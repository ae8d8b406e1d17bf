"""The search orchestration of ``EventStore`` against a scripted client (no ClickHouse)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from query.search import parse_search_body
from query.store import CountCaches, EventStore

PERIOD = datetime(2026, 6, 1)
FINGERPRINTS = [("202605", "f1"), ("202606", "f2")]  # partition -> fingerprint of its parts
COUNTS = [(202605, date(2026, 5, 1), 1000), (202606, date(2026, 6, 1), 234)]  # matches
MONTHS = [FINGERPRINTS, COUNTS]  # the answers to the two counting queries
ID = uuid.UUID("00000000-0000-0000-0000-000000000001")


def event_row(value: float) -> tuple[Any, ...]:
    return (ID, "c", "e", "m", "credit", value, "daily", PERIOD, PERIOD, "{}")


@dataclass
class ScriptedClient:
    """Answers each query with the next scripted rows; records the SQL it was sent."""

    answers: list[list[tuple[Any, ...]]]
    sent: list[str] = field(default_factory=list)
    parameters: list[dict[str, Any]] = field(default_factory=list)

    def query(self, sql: str, parameters: dict[str, Any]) -> Any:
        self.sent.append(sql)
        self.parameters.append(parameters)
        rows = self.answers.pop(0)
        return type("Result", (), {"result_rows": rows})()


def test_whole_org_search_counts_per_day_then_reads_only_the_page_days() -> None:
    client = ScriptedClient([*MONTHS, [event_row(3.0)]])
    page = EventStore(client).search("org", parse_search_body(b'{"offset":1010}'))  # type: ignore[arg-type]
    assert page.total == 1234 and [e["value"] for e in page.events] == [3]
    assert len(client.sent) == 3 and "system.parts" in client.sent[0]
    assert "GROUP BY partition_id, day" in client.sent[1]
    assert client.parameters[1]["partitions"] == ["202605", "202606"]
    # Offset 1010 is the 10th match of June 1: only that day is read, from the period-ordered copy.
    assert "usage_events_by_period FINAL" in client.sent[2] and "OVER ()" not in client.sent[2]
    june_1 = 1780272000_000_000  # 2026-06-01T00:00:00Z in microseconds
    assert client.parameters[2]["offset"] == 10
    assert client.parameters[2]["created_at_from"] == june_1
    assert client.parameters[2]["created_at_to"] == june_1 + 86_400_000_000 - 1


def test_whole_org_search_past_the_end_needs_only_the_counts() -> None:
    client = ScriptedClient([*MONTHS])
    page = EventStore(client).search("org", parse_search_body(b'{"offset":1234}'))  # type: ignore[arg-type]
    assert page.events == [] and page.total == 1234 and len(client.sent) == 2


def test_customer_search_is_one_query_and_past_the_end_counts_separately() -> None:
    client = ScriptedClient([[(*event_row(1.0), 9)]])
    page = EventStore(client).search("org", parse_search_body(b'{"customer_id":"c"}'))  # type: ignore[arg-type]
    assert page.total == 9 and len(client.sent) == 1
    client = ScriptedClient([[], [(9,)]])
    page = EventStore(client).search("org", parse_search_body(b'{"customer_id":"c","offset":50}'))  # type: ignore[arg-type]
    assert page.events == [] and page.total == 9 and client.sent[1].startswith("SELECT count()")


def test_counts_of_unchanged_partitions_are_reused_and_changed_ones_recounted() -> None:
    cache = CountCaches.create(profile_keys=0, max_profile_keys=0, count_entries=100)
    first = ScriptedClient([*MONTHS])
    EventStore(first, cache).search("org", parse_search_body(b'{"offset":5000}'))  # type: ignore[arg-type]
    same = ScriptedClient([FINGERPRINTS])
    page = EventStore(same, cache).search("org", parse_search_body(b'{"offset":6000}'))  # type: ignore[arg-type]
    assert page.total == 1234 and len(same.sent) == 1  # the counts came from the cache
    changed = ScriptedClient([[("202605", "f1"), ("202606", "f3")], [(202606, date(2026, 6, 1), 240)]])
    page = EventStore(changed, cache).search("org", parse_search_body(b'{"offset":6000}'))  # type: ignore[arg-type]
    assert page.total == 1240 and changed.parameters[1]["partitions"] == ["202606"]


def test_cached_counts_belong_to_one_organization_and_one_filter_set() -> None:
    cache = CountCaches.create(profile_keys=0, max_profile_keys=0, count_entries=100)
    EventStore(ScriptedClient([*MONTHS]), cache).search("org", parse_search_body(b'{"offset":5000}'))  # type: ignore[arg-type]
    for org, body in (("other", b'{"offset":5000}'), ("org", b'{"event_type":"debit","offset":5000}')):
        client = ScriptedClient([FINGERPRINTS, [(202605, date(2026, 5, 1), 3)]])
        page = EventStore(client, cache).search(org, parse_search_body(body))  # type: ignore[arg-type]
        assert page.total == 3 and len(client.sent) == 2


def search(client: ScriptedClient, caches: CountCaches, body: bytes) -> Any:
    return EventStore(client, caches).search("org", parse_search_body(body))  # type: ignore[arg-type]


MAY_PROFILE = [
    ("202605", "m", "credit", 11, [date(2026, 5, 1)], [600]),
    ("202605", "m", "debit", 22, [date(2026, 5, 2)], [400]),
]
JUNE_PROFILE = [("202606", "m", "credit", 11, [date(2026, 6, 1)], [234])]


def test_profiles_answer_every_property_and_type_filter_set_without_counting_again() -> None:
    caches = CountCaches.create(profile_keys=100, max_profile_keys=10, count_entries=100)
    first = ScriptedClient([FINGERPRINTS, [*MAY_PROFILE, *JUNE_PROFILE], [(11,)]])
    page = search(first, caches, b'{"event_property_filters":{"a":1},"offset":900}')
    assert page.total == 834 and page.events == [] and len(first.sent) == 3
    assert first.parameters[1]["partitions"] == ["202605", "202606"] and first.parameters[1]["max_keys"] == 11
    assert "usage_property_sets" in first.sent[2] and first.parameters[2]["pk0"] == "a"
    # A filter set never seen before: the profiles answer it, only the matching texts are looked up.
    other = ScriptedClient([FINGERPRINTS, [(22,), (11,)]])
    page = search(other, caches, b'{"event_type":"debit","event_property_filters":{"b":2},"offset":900}')
    assert page.total == 400 and len(other.sent) == 2
    no_property = ScriptedClient([FINGERPRINTS])
    assert search(no_property, caches, b'{"offset":2000}').total == 1234 and len(no_property.sent) == 1
    metric = ScriptedClient([FINGERPRINTS])
    assert search(metric, caches, b'{"event_code":"m","offset":2000}').total == 1234
    assert search(ScriptedClient([FINGERPRINTS]), caches, b'{"event_code":"x","offset":1}').total == 0


def test_a_time_range_counts_whole_days_from_profiles_and_its_partial_days_exactly() -> None:
    caches = CountCaches.create(profile_keys=100, max_profile_keys=10, count_entries=100)
    profiles = [
        ("202605", "m", "credit", 11, [date(2026, 5, 30), date(2026, 5, 31)], [10, 20]),
        ("202606", "m", "credit", 11, [date(2026, 6, 1), date(2026, 6, 2)], [30, 40]),
    ]
    fingerprints = [("202604", "f0"), ("202605", "f1"), ("202606", "f2"), ("202607", "f3")]
    # From 2026-05-31T12:00 to 2026-06-02T18:00: May 31 and June 2 are partial, June 1 whole.
    client = ScriptedClient([fingerprints, profiles, [(7,)], [(8,)]])
    body = b'{"created_at_from":"2026-05-31T12:00:00Z","created_at_to":"2026-06-02T18:00:00Z","offset":100}'
    page = search(client, caches, body)
    assert page.total == 7 + 30 + 8 and page.events == []
    # Neither April nor July can hold a value of the range: they are not read.
    assert client.parameters[1]["partitions"] == ["202605", "202606"]
    may_31, june_2 = 1780228800_000_000, 1780423200_000_000  # 12:00 on May 31, 18:00 on June 2
    assert client.parameters[2]["created_at_from"] == may_31
    assert client.parameters[2]["created_at_to"] == may_31 + 12 * 3600_000_000 - 1
    assert client.parameters[3]["created_at_from"] == june_2 - 18 * 3600_000_000
    assert client.parameters[3]["created_at_to"] == june_2
    assert client.parameters[2]["partitions"] == ["202605", "202606"] and "count()" in client.sent[2]


def test_a_changed_partition_is_profiled_again_and_a_too_diverse_one_counted_per_search() -> None:
    caches = CountCaches.create(profile_keys=100, max_profile_keys=1, count_entries=100)
    # May has 2 keys, more than 1: counted for this search instead.
    first = ScriptedClient([FINGERPRINTS, [*MAY_PROFILE, *JUNE_PROFILE], [(202605, date(2026, 5, 1), 1000)]])
    assert search(first, caches, b'{"offset":2000}').total == 1234
    assert first.parameters[2]["partitions"] == ["202605"]
    june_changed = [("202605", "f1"), ("202606", "f9")]
    june_grew = [("202606", "m", "credit", 11, [date(2026, 6, 1)], [240])]
    second = ScriptedClient([june_changed, june_grew])
    assert search(second, caches, b'{"offset":2000}').total == 1240 and len(second.sent) == 2
    assert second.parameters[1]["partitions"] == ["202606"]


def test_a_short_range_is_one_query() -> None:
    closed = b'{"created_at_from":"2026-06-01T00:00:00Z","created_at_to":"2026-06-02T00:00:00Z"}'
    client = ScriptedClient([[(*event_row(1.0), 9)]])
    assert EventStore(client).search("org", parse_search_body(closed)).total == 9  # type: ignore[arg-type]
    assert len(client.sent) == 1 and "OVER ()" in client.sent[0]
