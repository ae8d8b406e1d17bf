"""The search orchestration of ``EventStore`` against a scripted client (no ClickHouse)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from query.search import parse_search_body
from query.store import MAX_SEARCH_ATTEMPTS, EventStore

PERIOD = datetime(2026, 6, 1)
MONTHS = [(date(2026, 5, 1), 1000), (date(2026, 6, 1), 234)]  # per-month match counts
ID = uuid.UUID("00000000-0000-0000-0000-000000000001")


def event_row(value: float, version: int) -> tuple[Any, ...]:
    return (ID, "c", "e", "m", "credit", value, "daily", PERIOD, PERIOD, "{}", version)


@dataclass
class ScriptedClient:
    """Answers each query with the next scripted rows; records the SQL it was sent."""

    answers: list[list[tuple[Any, ...]]]
    sent: list[str] = field(default_factory=list)

    def query(self, sql: str, parameters: dict[str, Any]) -> Any:
        self.sent.append(sql)
        rows = self.answers.pop(0)
        return type("Result", (), {"result_rows": rows})()


def test_whole_org_search_reads_narrow_keys_then_the_events() -> None:
    client = ScriptedClient([MONTHS, [(ID, 7, PERIOD, 5)], [event_row(3.0, 7)]])
    page = EventStore(client).search("org", parse_search_body(b'{"offset":1010}'))  # type: ignore[arg-type]
    assert page.total == 1234 and [e["value"] for e in page.events] == [3]
    assert len(client.sent) == 3 and "GROUP BY month" in client.sent[0]
    assert "LIMIT 1 BY event_id" in client.sent[2]


def test_whole_org_search_past_the_end_needs_only_the_counts() -> None:
    client = ScriptedClient([MONTHS])
    page = EventStore(client).search("org", parse_search_body(b'{"offset":1234}'))  # type: ignore[arg-type]
    assert page.events == [] and page.total == 1234 and len(client.sent) == 1


def test_a_version_replaced_between_the_steps_restarts_the_search() -> None:
    client = ScriptedClient(
        [MONTHS, [(ID, 7, PERIOD, 5)], [event_row(3.0, 8)], [(ID, 8, PERIOD, 5)], [event_row(4.0, 8)]]
    )
    page = EventStore(client).search("org", parse_search_body(b"{}"))  # type: ignore[arg-type]
    assert [e["value"] for e in page.events] == [4] and len(client.sent) == 5


def test_attempts_are_bounded_and_keep_the_current_value() -> None:
    answers: list[list[tuple[Any, ...]]] = [MONTHS]
    for attempt in range(MAX_SEARCH_ATTEMPTS):
        answers += [[(ID, attempt, PERIOD, 1)], [event_row(float(attempt), attempt + 1)]]
    client = ScriptedClient(answers)
    page = EventStore(client).search("org", parse_search_body(b"{}"))  # type: ignore[arg-type]
    assert [e["value"] for e in page.events] == [MAX_SEARCH_ATTEMPTS - 1]
    assert len(client.sent) == 1 + 2 * MAX_SEARCH_ATTEMPTS


def test_customer_search_is_one_query_and_past_the_end_counts_separately() -> None:
    client = ScriptedClient([[(*event_row(1.0, 1)[:-1], 9)]])
    page = EventStore(client).search("org", parse_search_body(b'{"customer_id":"c"}'))  # type: ignore[arg-type]
    assert page.total == 9 and len(client.sent) == 1
    client = ScriptedClient([[], [(9,)]])
    page = EventStore(client).search("org", parse_search_body(b'{"customer_id":"c","offset":50}'))  # type: ignore[arg-type]
    assert page.events == [] and page.total == 9 and client.sent[1].startswith("SELECT count()")
