"""How a search is answered, decided in one place (pure): ``plan_search``.

* **One step** — few matches (a customer's values, or a closed ``created_at`` range shorter than
  two days: what the page of a longer search reads and orders anyway): whole events are matched,
  ordered and paged in one query, and counted with it.
* **Two steps** — possibly millions of matches: count them per day of ``created_at`` first (the
  exact total without sorting), then read and order only the days that hold the page.
  The counts come from the partitions' **profiles** when the search is not scoped to a customer
  and profiles are on (``QUIVLY_QUERY_PROFILE_CACHE_MAX_KEYS`` > 0); otherwise (or for a
  partition without a profile) they are counted per search.
* **Which copy is read** — a customer's values are contiguous in ``usage_events_by_customer``;
  every other search reads ``usage_events_by_period``, where a time range is a few contiguous
  ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.names import USAGE_EVENTS_BY_CUSTOMER, USAGE_EVENTS_BY_PERIOD
from query.paging import DAY_US
from query.search import SearchRequest

# A closed created_at range shorter than this is answered in one step.
SHORT_RANGE_US = 2 * DAY_US


@dataclass(frozen=True, slots=True)
class SearchPlan:
    one_step: bool  # match, order and page whole events in one query
    profiled: bool  # two steps: day counts from partition profiles (where a partition has one)
    table: str  # the copy of usage_events the matches are read from


def plan_search(request: SearchRequest, profiles_on: bool) -> SearchPlan:
    customer_scoped = is_customer_scoped(request)
    start, end = request.created_at_from_us, request.created_at_to_us
    short_range = start is not None and end is not None and end - start < SHORT_RANGE_US
    return SearchPlan(
        one_step=customer_scoped or short_range,
        profiled=profiles_on and not customer_scoped,
        table=USAGE_EVENTS_BY_CUSTOMER if customer_scoped else USAGE_EVENTS_BY_PERIOD,
    )


def is_customer_scoped(request: SearchRequest) -> bool:
    return request.customer_id is not None or request.external_customer_id is not None
