"""A client-side pace for bulk runs, shaped to Graph's documented budgets, shared by every worker thread.

Graph's limits (MGDC concepts/throttling-limits.md):
- any operation on invitations: 150 requests per 5 seconds per tenant, all apps together;
- identity and access writes: 3,000 per 2 min 30 s per app and tenant.

Each budget is a sliding window: a request waits until fewer than ``requests`` were started in the last
``seconds``. The window is padded a little (``margin``) because Graph counts arrivals, and a request started early
can arrive late; running exactly at the limit would meet a 429 now and then. When Graph answers 429 anyway,
``pause(retry_after)`` holds every worker until the time has passed (concepts/throttling.md: "wait the number of
seconds specified in the Retry-After field"), so one throttled answer does not become a storm of them.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateBudget:
    requests: int
    seconds: float


INVITATIONS = "invitations"
DIRECTORY_WRITES = "directory_writes"


def graph_budgets() -> dict[str, RateBudget]:
    """Graph's documented budgets (MGDC concepts/throttling-limits.md)."""
    return {INVITATIONS: RateBudget(150, 5.0), DIRECTORY_WRITES: RateBudget(3000, 150.0)}


class RateLimiter:
    """Thread-safe sliding windows, one per named budget, plus a shared pause for Retry-After."""

    def __init__(self, budgets: dict[str, RateBudget] | None = None, *, margin: float = 0.05,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.budgets = dict(budgets if budgets is not None else graph_budgets())
        for name, budget in self.budgets.items():
            if budget.requests < 1 or budget.seconds <= 0:
                raise ValueError(f"budget {name} must allow at least 1 request in a positive time")
        self.margin = margin
        self._clock = clock
        self._condition = threading.Condition(threading.RLock())
        self._started: dict[str, collections.deque[float]] = {name: collections.deque() for name in self.budgets}
        self._paused_until = 0.0
        self.waited = 0.0  # total seconds workers spent waiting here (a figure for reports)
        self.pauses = 0  # how many Retry-After pauses were asked for

    def acquire(self, *names: str, cost: int = 1) -> float:
        """Block until one request (``cost`` requests for a $batch) may start under every named budget; returns
        the moment (on this limiter's clock) it was counted as started."""
        asked = self._clock()
        with self._condition:
            while True:
                delay, started = self._start_if_allowed(names, cost)
                if delay <= 0:
                    self.waited += started - asked
                    return started
                self._condition.wait(timeout=delay)

    def try_acquire(self, *names: str, cost: int = 1) -> float:
        """Start now if allowed (returns 0), else return how many seconds to wait before asking again."""
        return self._start_if_allowed(names, cost)[0]

    def _start_if_allowed(self, names: tuple[str, ...], cost: int) -> tuple[float, float]:
        names = tuple(name for name in names if name in self.budgets)  # a budget not configured is not paced
        for name in names:
            if cost > self.budgets[name].requests:
                raise ValueError(f"a cost of {cost} can never fit the {name} budget")
        with self._condition:
            now = self._clock()
            delay = self._delay(names, cost, now)
            if delay > 0:
                return delay, now
            for name in names:
                self._started[name].extend([now] * cost)
            return 0.0, now

    def pause(self, seconds: float) -> None:
        """Hold every worker for ``seconds`` (a Retry-After); a longer pause already set is kept."""
        with self._condition:
            self.pauses += 1
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))
            self._condition.notify_all()

    def paused_for(self) -> float:
        with self._condition:
            return max(0.0, self._paused_until - self._clock())

    def _delay(self, names: tuple[str, ...], cost: int, now: float) -> float:
        delay = self._paused_until - now
        for name in names:
            budget = self.budgets[name]
            window = budget.seconds * (1 + self.margin)
            started = self._started[name]
            while started and started[0] <= now - window:
                started.popleft()
            excess = len(started) + cost - budget.requests
            if excess > 0:
                # The oldest starts that must leave the window before this one fits.
                delay = max(delay, started[excess - 1] + window - now)
        return delay

