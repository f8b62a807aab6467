"""Graph's documented request budgets, counted on the simulated clock (MGDC concepts/throttling-limits.md)."""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass


@dataclass
class Budget:
    requests: int  # how many requests the window allows
    seconds: float  # the window's length in simulated seconds
    # None: Retry-After is the time until the window frees a slot. A number: once over budget the scope is refused
    # for that long and told so, as the long values reported on directory writes (41 s, 315 s) behave.
    retry_after: int | None = None


def default_limits() -> dict[str, Budget]:
    return {
        # "Any operation on invitation: 150 requests per 5 seconds per tenant" (all apps together).
        "invitations": Budget(150, 5.0),
        # Identity and access writes: 3,000 per 2 min 30 s per app+tenant.
        "directory_writes": Budget(3000, 150.0),
    }


class Windows:
    """Sliding windows keyed by (budget name, scope). Not locked itself: the backend's lock guards it."""

    def __init__(self) -> None:
        self._hits: dict[tuple[str, str], collections.deque[float]] = collections.defaultdict(collections.deque)
        self._blocked_until: dict[tuple[str, str], float] = {}

    def take(self, name: str, scope: str, budget: Budget, now: float) -> int | None:
        """Spend one request; returns None if allowed, else the Retry-After seconds."""
        key = (name, scope)
        blocked_until = self._blocked_until.get(key)
        if blocked_until is not None:
            if now < blocked_until:
                return max(1, math.ceil(blocked_until - now))
            # A client that waited as told gets through: the penalty replaces what was left of the window.
            del self._blocked_until[key]
            self._hits[key].clear()
        hits = self._hits[key]
        while hits and hits[0] <= now - budget.seconds:
            hits.popleft()
        if len(hits) >= budget.requests:
            if budget.retry_after is not None:
                self._blocked_until[key] = now + budget.retry_after
                return budget.retry_after
            return max(1, math.ceil(hits[0] + budget.seconds - now))
        hits.append(now)
        return None

    def clear(self) -> None:
        self._hits.clear()
        self._blocked_until.clear()
