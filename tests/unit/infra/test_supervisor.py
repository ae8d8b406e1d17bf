"""The local run's restart budget: restart a crashed service, but not one that keeps dying."""

from __future__ import annotations

from infra.supervisor import RestartBudget


def test_a_service_is_restarted_until_it_dies_too_often_within_the_window() -> None:
    budget = RestartBudget(max_restarts=3, window_s=60)
    assert [budget.allow("streams worker", t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert budget.allow("ingress", 3)  # counted per service
    assert budget.allow("streams worker", 61.5)  # the first restarts left the window
