"""How long a NEW guest waits after its invitation before the first directory write of its membership, learned from
the replication lag this process actually observes (issue 17 #2).

A guest invited a moment ago is usually not yet visible to directory writes (Graph's eventual consistency): adding
them at once costs a write that fails, and another one later. So the membership worker holds a new guest's message
until the guest's *age* (time since the invitation, ``invitedAt`` on the message) reaches the learned delay, by
putting the message back on its queue with the rest of the wait, without a directory write (shared.membership).
When a held message comes back, the delay is asked again: if it grew meanwhile (other messages taught it), the
message is held for the difference, again without a write. So the lessons of the messages ahead reach every
message still waiting, not only the ones deferred after them: without that, all the messages deferred during the
first minute of a run with the 5 s starting guess met the lag (1.20 writes per new guest's membership in the
240-onboarding soak; see docs/performance.md).

The first write of a new guest teaches the delay: meeting the lag doubles it (after a hold, or a message that
arrived already as old as the delay: either way the delay was too short), finding the guest after a hold shrinks it
by 2%. It settles where about one first write in 36 meets the lag (ln 2 · p + ln 0.98 · (1 - p) = 0, p ≈ 0.028),
i.e. about 1.03 directory writes per new guest's membership while the lag stays the same, and follows the lag when
it changes (halving takes 35 successes). The price is latency: a new guest's membership waits about the lag's
97th percentile. Each process learns on its own (no shared state), from :data:`DEFAULT_FIRST_DELAY_SECONDS`.

A person the lookup FOUND but who was created less than :data:`MAX_FIRST_DELAY_SECONDS` ago (a caller's retry after
a lost 201; another door's request moments after the invitation) is as new to directory writes: the intake marks
those messages the same way, with ``invitedAt`` = the user's createdDateTime (:func:`new_to_writes`).
"""

from __future__ import annotations

import datetime as dt
import math
import threading

DEFAULT_FIRST_DELAY_SECONDS = 5.0  # a few seconds: what Graph's replication usually takes for a new object
MIN_FIRST_DELAY_SECONDS = 1.0
MAX_FIRST_DELAY_SECONDS = 120.0
GROW = 2.0  # after a first write that still met the lag
SHRINK = 0.98  # after a first write that found the guest
MIN_HOLD_SECONDS = 1.0  # a held message that comes back with less than this to wait is written (queue timers' grain)


def new_to_writes(created_at: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """When a person the lookup FOUND was created, if that was so recent that directory writes may not see them
    yet (within the longest first delay): a caller's retry after a lost 201, or another door's request a moment
    after the invitation, finds the guest readable but not yet writable. None for anyone older (or unknown)."""
    if created_at is None or not 0 <= (now - created_at).total_seconds() < MAX_FIRST_DELAY_SECONDS:
        return None
    return created_at


class FirstDelay:
    """The learned delay of one process (thread-safe: the worker runs several messages at once)."""

    def __init__(self, seconds: float = DEFAULT_FIRST_DELAY_SECONDS) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()

    @property
    def seconds(self) -> float:
        with self._lock:
            return self._seconds

    def remaining(self, invited_at: dt.datetime, now: dt.datetime) -> float:
        """Seconds a guest invited at ``invited_at`` still has to wait before the first write (0: write now),
        rounded up to a tenth of a second. A time in the future (clock skew, or a hostile message) counts as now:
        the wait is never longer than the delay."""
        age = max(0.0, (now - invited_at).total_seconds())
        return max(0.0, math.ceil((self.seconds - age) * 10) / 10)

    def after_lag(self, invited_at: dt.datetime | None, now: dt.datetime) -> float:
        """The least wait after a write that met the lag: the learned delay, and the guest's age when known (a guest
        still invisible at age a has a lag over a, so it is tried again at age 2a or later: its tries double in age
        instead of spending a write every few seconds of a long lag)."""
        age = max(0.0, (now - invited_at).total_seconds()) if invited_at is not None else 0.0
        return max(self.seconds, age)

    def observed(self, lagged: bool) -> float:
        """Learn from the first directory write after a hold (``lagged``: the guest was not visible yet)."""
        with self._lock:
            factor = GROW if lagged else SHRINK
            self._seconds = min(MAX_FIRST_DELAY_SECONDS, max(MIN_FIRST_DELAY_SECONDS, self._seconds * factor))
            return self._seconds
