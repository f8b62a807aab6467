"""How long a bulk run waits after inviting a new guest before its first membership write: learned from the
replication lag the run itself meets, so no directory write is spent on a guest Graph cannot see yet.

Graph's writes refuse a new guest for a while after the invitation (the 404/400 answers of replication lag,
cloud-facts.md; the 2017 write-up of this flow saw up to 10 minutes, most runs see seconds). A write that meets lag
costs a directory write for nothing and a second one later, and the directory-write budget (3,000 per 150 s per app)
is what bounds a large run. Each lag answer tells a lower bound: that guest was still invisible ``age`` seconds after
its invitation. The delay is kept above every such bound seen in the run, with a margin; it only grows, because
waiting a little too long costs the run only its tail (writes are pipelined behind the invitations), while waiting
too little costs writes all along.
"""

from __future__ import annotations

import threading

INITIAL_SECONDS = 1.0  # the first guess, before the run has met any lag
FACTOR = 1.5  # margin over the longest lag met: lags vary from guest to guest
PAD_SECONDS = 0.25
MAX_SECONDS = 60.0  # beyond this, the per-item backoff (up to the lag window) takes over


class LagEstimate:
    """Thread-safe; ``delay`` is read by the senders, ``met_lag`` is told by them."""

    def __init__(self, initial: float = INITIAL_SECONDS) -> None:
        self._lock = threading.Lock()
        self._delay = min(MAX_SECONDS, max(0.0, initial))
        self.longest_met = 0.0  # the longest age at which a guest was still not visible (a figure for reports)
        self.met = 0  # lag answers learned from

    @property
    def delay(self) -> float:
        with self._lock:
            return self._delay

    def met_lag(self, age: float) -> None:
        """A write for a guest invited ``age`` seconds ago met replication lag."""
        with self._lock:
            self.met += 1
            self.longest_met = max(self.longest_met, age)
            self._delay = min(MAX_SECONDS, max(self._delay, age * FACTOR + PAD_SECONDS))
