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
97th percentile.

Shared through the app's storage (:class:`TableDelay`): every new process (an instance scaled out, or restarted, as
Flex Consumption often does) would otherwise start again from :data:`DEFAULT_FIRST_DELAY_SECONDS` and spend
directory writes on the lag while it re-learns. So a process reads the delay the others learned ONCE, lazily, on
its first new guest's message (never at import or on the HTTP path: cold start), with a short timeout, and from
then on learns on its own. It writes its estimate back at most once per :data:`SHARE_EVERY_SECONDS`, and only when
the estimate moved by :data:`SHARE_CHANGE` (10%) since it last wrote or read it. The stored value is untrusted:
anything that is not a number within [:data:`MIN_FIRST_DELAY_SECONDS`, :data:`MAX_FIRST_DELAY_SECONDS`] (what a
writer can store), a missing entity, or any failure gives the default. Last writer wins, with no ETag check: each
writer's value is a fresh estimate of the same lag, only a starting point for the next new process (which then
learns on its own), so merging estimates would buy nothing worth a read-modify-write loop. Sharing is best effort:
a failed read or write never fails a membership (it is logged at WARNING once per process, read and write each).

A person the lookup FOUND but who was created less than :data:`MAX_FIRST_DELAY_SECONDS` ago (a caller's retry after
a lost 201; another door's request moments after the invitation) is as new to directory writes: the intake marks
those messages the same way, with ``invitedAt`` = the user's createdDateTime (:func:`new_to_writes`).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from .logging_setup import log_event

DEFAULT_FIRST_DELAY_SECONDS = 5.0  # a few seconds: what Graph's replication usually takes for a new object
MIN_FIRST_DELAY_SECONDS = 1.0
MAX_FIRST_DELAY_SECONDS = 120.0
GROW = 2.0  # after a first write that still met the lag
SHRINK = 0.98  # after a first write that found the guest
MIN_HOLD_SECONDS = 1.0  # a held message that comes back with less than this to wait is written (queue timers' grain)
# A process writes its learned delay back at most this often: a new process then starts from an estimate at most a
# minute of learning behind (the delay moves slowly: halving takes 35 first writes), and a busy instance costs the
# storage account one small write a minute, not one per membership.
SHARE_EVERY_SECONDS = 60.0
# ... and only when it moved by this share since this process last wrote or read it: the rule itself moves the delay by
# 2% per success, so a smaller change tells a new process nothing it would not learn from its first few writes.
SHARE_CHANGE = 0.10
# The shared delay's read and write: one try, short timeouts (a slow or absent storage account must not hold up a
# membership for more than this; the default delay is the fallback anyway).
SHARE_TIMEOUT_SECONDS = 2.0
FIRST_DELAY_ROW = "first-delay"  # the entity's RowKey in shared.status.LAG_PARTITION of the status table


def new_to_writes(created_at: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """When a person the lookup FOUND was created, if that was so recent that directory writes may not see them
    yet (within the longest first delay): a caller's retry after a lost 201, or another door's request a moment
    after the invitation, finds the guest readable but not yet writable. None for anyone older (or unknown)."""
    if created_at is None or not 0 <= (now - created_at).total_seconds() < MAX_FIRST_DELAY_SECONDS:
        return None
    return created_at


class SharedDelay(Protocol):
    """Where processes share the learned delay (:class:`TableDelay`; tests may give their own)."""

    def read(self) -> Any:
        """The stored value as stored (None: nothing stored yet); raises when it cannot be read."""

    def write(self, seconds: float) -> None:
        """Store ``seconds`` (last writer wins); raises when it cannot be written."""


def shared_value(stored: Any) -> float | None:
    """The stored delay when it is one a process could have written (a finite number within the bounds), else
    None: the table is untrusted, so a value out of range is not clamped into it but ignored."""
    if isinstance(stored, bool) or not isinstance(stored, int | float):
        return None
    value = float(stored)
    if not math.isfinite(value) or not MIN_FIRST_DELAY_SECONDS <= value <= MAX_FIRST_DELAY_SECONDS:
        return None
    return value


class FirstDelay:
    """The learned delay of one process (thread-safe: the worker runs several messages at once), shared with the
    app's other processes through ``shared`` (built on first use; None: this process only)."""

    def __init__(self, seconds: float = DEFAULT_FIRST_DELAY_SECONDS,
                 shared: Callable[[], SharedDelay] | None = None, clock: Callable[[], float] = time.monotonic,
                 share_every: float = SHARE_EVERY_SECONDS) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()
        self._shared_factory = shared
        self._shared: SharedDelay | None = None
        self._clock = clock
        self._share_every = share_every
        self._load_lock = threading.Lock()  # one read per process; other first messages wait for it (short)
        self._loaded = shared is None
        self._learned = False  # this process has learned from a write of its own (a read must not undo that)
        self._last_share: float | None = None
        self._shared_seconds: float | None = None  # the value this process last wrote or read
        self._sharing = False  # a write back is under way (one at a time)
        self._warned: set[str] = set()

    def load_shared(self) -> None:
        """Start from the delay the app's other processes learned: read once per process (the first new guest's
        message calls this), never again, whatever the outcome. Any failure, or a value not one of ours, leaves
        the delay as it is (the default for a new process)."""
        if self._loaded:
            return
        with self._load_lock:
            if self._loaded:
                return
            try:
                stored = self._store().read()
            except Exception as failure:  # best effort: the default delay still works, only less well
                self._warn_once("read", failure)
                stored = None
            value = shared_value(stored)
            if stored is not None and value is None:
                log_event("lag.shared_ignored", level=logging.WARNING, storedType=type(stored).__name__,
                          reason="not a number within the delay's bounds")
            with self._lock:
                if value is not None and not self._learned:  # never undo what this process learned already
                    self._seconds = value
                self._shared_seconds = value
            if value is not None:
                log_event("lag.shared_read", learnedDelaySeconds=round(value, 1))
            self._loaded = True

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
        """Learn from the first directory write after a hold (``lagged``: the guest was not visible yet), and write
        the new estimate back when the last write back is :data:`SHARE_EVERY_SECONDS` old (or there was none) and
        the estimate moved by :data:`SHARE_CHANGE` or more since this process last wrote or read it."""
        with self._lock:
            factor = GROW if lagged else SHRINK
            self._seconds = min(MAX_FIRST_DELAY_SECONDS, max(MIN_FIRST_DELAY_SECONDS, self._seconds * factor))
            seconds = self._seconds
            self._learned = True
            now = self._clock()
            share = (self._shared_factory is not None and not self._sharing
                     and (self._last_share is None or now - self._last_share >= self._share_every)
                     and (self._shared_seconds is None
                          or abs(seconds - self._shared_seconds) >= SHARE_CHANGE * self._shared_seconds))
            if share:
                self._sharing, self._last_share = True, now
        if share:  # outside the lock: other messages keep learning meanwhile
            self._write_back(seconds)
        return seconds

    def _write_back(self, seconds: float) -> None:
        try:
            self._store().write(seconds)
            with self._lock:
                self._shared_seconds = seconds
        except Exception as failure:  # best effort: the membership is done whatever happens here
            self._warn_once("write", failure)
        finally:
            with self._lock:
                self._sharing = False

    def _store(self) -> SharedDelay:
        if self._shared_factory is None:
            raise LookupError("no shared store")
        if self._shared is None:
            self._shared = self._shared_factory()
        return self._shared

    def _warn_once(self, kind: str, failure: BaseException) -> None:
        with self._lock:
            if kind in self._warned:
                return
            self._warned.add(kind)
        log_event(f"lag.shared_{kind}_failed", level=logging.WARNING,
                  error=f"{type(failure).__name__}: {str(failure)[:200]}")


class TableDelay:
    """The shared delay as one entity of the status table (shared.status: partition ``~lag``, never a requestId,
    row :data:`FIRST_DELAY_ROW`): ``seconds`` (a double) and ``updatedAt``. Every call is one request, one try,
    :data:`SHARE_TIMEOUT_SECONDS` to connect and to read."""

    def __init__(self, table: Any, now: Callable[[], dt.datetime]) -> None:
        self.table = table
        self._now = now

    def read(self) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        from .status import LAG_PARTITION

        try:
            entity = self.table.get_entity(LAG_PARTITION, FIRST_DELAY_ROW, select=["seconds"], **_one_short_try())
        except ResourceNotFoundError:  # nothing learned yet (or a new account without the table): the default
            return None
        return entity.get("seconds")

    def write(self, seconds: float) -> None:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        from . import storage
        from .status import LAG_PARTITION
        from .wire import utc_text

        entity = {"PartitionKey": LAG_PARTITION, "RowKey": FIRST_DELAY_ROW, "seconds": float(round(seconds, 3)),
                  "updatedAt": utc_text(self._now(), milliseconds=True)}
        try:
            self.table.upsert_entity(entity, mode=UpdateMode.MERGE, **_one_short_try())
        except ResourceNotFoundError:  # the table does not exist yet (infra creates it; Azurite may not have it)
            storage.ensure_table(self.table)
            self.table.upsert_entity(entity, mode=UpdateMode.MERGE, **_one_short_try())


def table_delay(ctx: Any) -> TableDelay:
    """The shared delay in the status table of ``ctx``'s storage account (its cached table client)."""
    from . import storage
    from .status import TABLE

    return TableDelay(storage.table_client(TABLE, ctx), ctx.utcnow)


def _one_short_try() -> dict[str, Any]:
    return {"retry_total": 0, "connection_timeout": SHARE_TIMEOUT_SECONDS, "read_timeout": SHARE_TIMEOUT_SECONDS}
