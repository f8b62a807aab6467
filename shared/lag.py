"""How long a NEW guest's first membership message waits before its first directory write, learned from the
replication lag this process actually observes (issue 17 #2).

A guest invited a moment ago is usually not yet visible to directory writes (Graph's eventual consistency): adding
them at once costs a write that fails, and another one later. So the membership worker puts the first message of a
new guest back on its queue with this delay before trying (shared.membership), and learns from the try that
follows the delay: the guest still not visible doubles the delay, a success shrinks it by 5%. The delay settles
where about one first try in fifteen meets the lag (14 ln 0.95 + ln 2 ≈ 0), i.e. about 1.07 directory writes per
new guest's membership while the lag stays the same, and follows the lag when it changes. It starts at
:data:`DEFAULT_FIRST_DELAY_SECONDS` in each process (no shared state: each instance learns on its own).
"""

from __future__ import annotations

import threading

DEFAULT_FIRST_DELAY_SECONDS = 5.0  # a few seconds: what Graph's replication usually takes for a new object
MIN_FIRST_DELAY_SECONDS = 1.0
MAX_FIRST_DELAY_SECONDS = 120.0
GROW = 2.0  # after a first try that still met the lag
SHRINK = 0.95  # after a first try that found the guest


class FirstDelay:
    """The learned delay of one process (thread-safe: the worker runs several messages at once)."""

    def __init__(self, seconds: float = DEFAULT_FIRST_DELAY_SECONDS) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()

    @property
    def seconds(self) -> float:
        with self._lock:
            return self._seconds

    def observed(self, lagged: bool) -> float:
        """Learn from the first directory write after the delay (``lagged``: the guest was not visible yet)."""
        with self._lock:
            factor = GROW if lagged else SHRINK
            self._seconds = min(MAX_FIRST_DELAY_SECONDS, max(MIN_FIRST_DELAY_SECONDS, self._seconds * factor))
            return self._seconds
