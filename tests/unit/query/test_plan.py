"""The one explicit choice of how a search is answered (``query.plan``)."""

from __future__ import annotations

from core.names import USAGE_EVENTS_BY_CUSTOMER, USAGE_EVENTS_BY_PERIOD
from query.plan import plan_search
from query.search import parse_search_body


def test_customer_searches_are_one_step_on_the_customer_copy() -> None:
    for body in (b'{"customer_id":"c"}', b'{"external_customer_id":"e","event_code":"m"}'):
        plan = plan_search(parse_search_body(body), profiles_on=True)
        assert plan.one_step and not plan.profiled and plan.table == USAGE_EVENTS_BY_CUSTOMER


def test_short_closed_ranges_are_one_step_longer_or_open_ones_two_steps() -> None:
    closed = b'{"created_at_from":"2026-01-01T00:00:00Z","created_at_to":"2026-01-02T23:59:59.999999Z"}'
    assert plan_search(parse_search_body(closed), profiles_on=True).one_step
    longer = b'{"created_at_from":"2026-01-01T00:00:00Z","created_at_to":"2026-01-03T00:00:00Z"}'
    for body in (longer, b'{"created_at_from":"2026-01-01T00:00:00Z"}', b'{"event_code":"m"}'):
        plan = plan_search(parse_search_body(body), profiles_on=True)
        assert not plan.one_step and plan.table == USAGE_EVENTS_BY_PERIOD


def test_profiles_count_every_search_not_scoped_to_a_customer_when_they_are_on() -> None:
    for body in (b'{"event_type":"debit","event_property_filters":{"a":1}}', b"{}"):
        assert plan_search(parse_search_body(body), profiles_on=True).profiled
        assert not plan_search(parse_search_body(body), profiles_on=False).profiled
    assert not plan_search(parse_search_body(b'{"customer_id":"c"}'), profiles_on=True).profiled
