"""Restarting a crashed service of the local run: how often is too often. Pure logic.

``quivly dev`` restarts a service that exits (a streams worker killed, an ingress crash) instead
of stopping the whole stack, so the in-memory broker, and the events it holds that are not yet in
ClickHouse, stay up. A service that keeps dying (``max_restarts`` within ``window_s``) is a real
problem (a port taken, a broken configuration): the run stops then, as before.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field


@dataclass
class RestartBudget:
    max_restarts: int = 5
    window_s: float = 60.0
    _restarts: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def allow(self, service: str, now: float) -> bool:
        """Whether ``service`` may be restarted now (and counts the restart if so)."""
        recent = self._restarts[service]
        while recent and now - recent[0] > self.window_s:
            recent.popleft()
        if len(recent) >= self.max_restarts:
            return False
        recent.append(now)
        return True
