"""Per-organization sliding-window rate limit (pure logic, one instance per ingress replica)."""

from __future__ import annotations

import math
from collections import deque


class SlidingWindowLimiter:
    """At most ``limit`` admitted requests per organization in any window of ``window_s`` seconds.

    ``admit`` returns None when the request is admitted, otherwise the whole seconds after which
    a retry is admitted (the oldest admitted request then leaves the window). Rejected requests do
    not count, so waiting ``Retry-After`` is always enough.
    """

    def __init__(self, limit: int, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._admitted: dict[str, deque[float]] = {}

    def admit(self, org_id: str, now: float) -> int | None:
        times = self._admitted.get(org_id)
        if times is None:
            times = self._admitted[org_id] = deque()
        horizon = now - self.window_s
        while times and times[0] <= horizon:
            times.popleft()
        if len(times) >= self.limit:
            return max(1, math.ceil(times[0] + self.window_s - now))
        times.append(now)
        return None

    def forget_idle(self, now: float) -> None:
        """Drops organizations with no request inside the window (bounded memory)."""
        horizon = now - self.window_s
        for org_id in [org for org, times in self._admitted.items() if not times or times[-1] <= horizon]:
            del self._admitted[org_id]
