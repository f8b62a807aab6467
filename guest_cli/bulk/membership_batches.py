"""Group memberships of a bulk run, in the fewest directory writes: the identity-and-access write budget (3,000
per 150 s per app, MGDC concepts/throttling-limits.md) is what bounds a large run once invitations are paced.

Two ways to send, each for what it is good at:

- **New guests** (invited by this run) go in ``PATCH /groups/{id}`` with up to 20 ``members@odata.bind``
  references (MGDC api/group-update.md): one directory write for up to 20 memberships. They are sent only once the
  guests are likely visible to writes: ``lag_estimate.LagEstimate`` holds each one back for a delay learned from
  the replication lag the run meets. That PATCH is all-or-nothing (one existing member, or one guest not yet
  visible, fails the whole request with 400/404), so on any answer but success, throttling or a server error, its
  members fall back to single adds, which tell each person's fate apart.
- **Single adds**: up to 20 ``members/$ref`` steps per ``POST /v1.0/$batch`` (MGDC concepts/json-batching.md), each
  step judged on its own by the core's :func:`shared.failures.judge_membership` (the same done / retry / fail
  rules as the queue worker): "already a member" (done), the replication-lag 404 (retry later) and a refusal
  (failed). People who were in the directory already (likely members of some groups) and resumed rows go this
  way at once, as do the members of a PATCH that failed.

Each $batch step is throttled on its own (429 with Retry-After in its headers): that pauses every worker, and the
step is sent again. Memberships answering with replication lag are retried with backoff for up to ``lag_window``
seconds (the 2017 write-up of this flow saw up to 10 minutes), and each such answer teaches the lag estimate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from shared.credentials import CredentialError
from shared.failures import judge_membership
from shared.graph import CallBudget, GraphClient, GraphError
from shared.status import failure_problem, record_problem

from .lag_estimate import LagEstimate
from .paced_transport import retry_after_seconds
from .rate_limit import RateLimiter

MAX_BATCH = 20  # "JSON batch requests are currently limited to 20 individual requests" (json-batching.md)
MAX_BIND = 20  # "up to 20 members can be added in a single request" with members@odata.bind (group-update.md)
LINGER_SECONDS = 0.2  # wait this long for a fuller batch while invitations are still coming in
# A PATCH saves writes only when full: at the invitation limit's pace (30 per second) 20 new guests of one group
# take 0.7 s to come in, so a ready guest waits up to this long for others to join its request.
BIND_LINGER_SECONDS = 1.0
# A PATCH throttled or failing on the server side is sent again whole this many times in all; then its members go
# as single adds, whose own answers and the lag window decide (a PATCH never retries forever).
MAX_BIND_ATTEMPTS = 3
BACKOFF_CAP = 60.0
BATCH_BUDGET_SECONDS = 60.0

# (row key, group id, "added" | "already-member" | "failed", error text or "", attempts, problem): the problem
# (failed only) as a status record holds it (type, status, code, graphRequestId, message), or None.
ItemDone = Callable[[Any, str, str, str, int, "dict[str, Any] | None"], None]


@dataclass
class _Item:
    row_key: Any
    user_id: str
    group_id: str
    first_tried: float | None = None
    attempts: int = 0
    not_before: float = 0.0
    invited_at: float | None = None  # a new guest invited by this run, at this time: waits for the lag estimate
    bind: bool = False  # goes in a PATCH members@odata.bind (a new guest not yet tried as a single add)


class MembershipBatcher:
    def __init__(self, graph: GraphClient, limiter: RateLimiter, on_done: ItemDone, *, lag_window: float = 900.0,
                 senders: int = 2, clock: Callable[[], float] = time.monotonic,
                 lag: LagEstimate | None = None) -> None:
        self.graph = graph
        self.limiter = limiter
        self.on_done = on_done
        self.lag_window = lag_window
        self._clock = clock
        self._condition = threading.Condition()
        self._waiting: list[_Item] = []
        self._in_flight = 0
        self._closed = False
        self._stopped = False
        self.lag = lag or LagEstimate()
        self.batches = 0  # $batch requests sent
        self.binds = 0  # PATCH members@odata.bind requests sent
        self.bind_fallbacks = 0  # of which failed as a whole, their members then sent as single adds
        self.throttled = 0  # inner 429s met
        self._threads = [threading.Thread(target=self._sender, name=f"memberships-{n}", daemon=True)
                         for n in range(max(1, senders))]
        for thread in self._threads:
            thread.start()

    def submit(self, row_key: Any, user_id: str, group_ids: tuple[str, ...] | list[str], *,
               invited_at: float | None = None) -> None:
        """Queue one person's memberships. ``invited_at`` (this batcher's clock): the person is a guest this run
        just invited, so their writes wait for the learned lag and go in PATCH members@odata.bind requests."""
        new = invited_at is not None
        with self._condition:
            self._waiting.extend(_Item(row_key, user_id, group_id, invited_at=invited_at, bind=new)
                                 for group_id in group_ids)
            self._condition.notify_all()

    def close(self) -> None:
        """No more submissions: senders finish what is waiting, then stop."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def stop(self) -> None:
        """Stop at once (Ctrl-C): what is waiting stays undone, and is retried by the next run."""
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    def join(self) -> None:
        for thread in self._threads:
            while thread.is_alive():
                thread.join(timeout=0.5)  # short joins keep the main thread responsive to Ctrl-C

    # ---- the sender loop --------------------------------------------------------------------------------------
    def _sender(self) -> None:
        while True:
            items = self._next_batch()
            if items is None:
                return
            try:
                self._send(items)
            except Exception as error:  # a sender must not die silently with rows open
                for item in items:
                    text = f"unexpected error: {error!r}"[:500]
                    self.on_done(item.row_key, item.group_id, "failed", text, item.attempts,
                                 record_problem({"code": "UnexpectedError", "message": text}))
            finally:
                with self._condition:
                    self._in_flight -= len(items)
                    self._condition.notify_all()

    def _next_batch(self) -> list[_Item] | None:
        with self._condition:
            while True:
                if self._stopped or (self._closed and not self._waiting and not self._in_flight):
                    self._condition.notify_all()
                    return None
                now = self._clock()
                delay = self.lag.delay
                ready_at = {id(item): self._ready_at(item, delay) for item in self._waiting}
                batch, wake = self._choose(now, ready_at)
                if batch:
                    chosen = {id(item) for item in batch}
                    self._waiting = [item for item in self._waiting if id(item) not in chosen]
                    self._in_flight += len(batch)
                    return batch
                self._condition.wait(timeout=wake if wake is None else max(0.01, wake))

    @staticmethod
    def _ready_at(item: _Item, delay: float) -> float:
        if item.bind and item.invited_at is not None:
            return max(item.not_before, item.invited_at + delay)
        return item.not_before

    def _choose(self, now: float, ready_at: dict[int, float]) -> tuple[list[_Item], float | None]:
        """The next request's items (all single adds, or PATCH members of one group), or none and how long to wait
        before looking again (None: until something is submitted or settled)."""
        singles = [item for item in self._waiting if not item.bind and ready_at[id(item)] <= now]
        by_group: dict[str, list[_Item]] = {}
        for item in self._waiting:
            if item.bind and ready_at[id(item)] <= now:
                by_group.setdefault(item.group_id, []).append(item)
        waits: list[float] = []
        for items, limit, linger in ([(singles, MAX_BATCH, LINGER_SECONDS)] if singles else []) + [
                (items, MAX_BIND, BIND_LINGER_SECONDS) for items in by_group.values()]:
            # Full, or nothing more can come (closed, and every waiting item ready), or it has lingered enough.
            waited = now - min(ready_at[id(item)] for item in items)
            more_coming = not self._closed or any(ready_at[id(other)] > now for other in self._waiting)
            if len(items) >= limit or not more_coming or waited >= linger:
                return items[:limit], None
            waits.append(linger - waited)
        waits += [ready_at[id(item)] - now for item in self._waiting if ready_at[id(item)] > now]
        return [], (min(waits) if waits else None)

    def _send(self, items: list[_Item]) -> None:
        now = self._clock()
        for item in items:
            item.attempts += 1
            item.first_tried = now if item.first_tried is None else item.first_tried
        if items[0].bind:
            self._send_bind(items)
            return
        steps = [{"id": str(index), "method": "POST", "url": f"/groups/{quote(item.group_id, safe='')}/members/$ref",
                  "headers": {"Content-Type": "application/json"},
                  "body": {"@odata.id": f"{self.graph.base_url}/directoryObjects/{item.user_id}"}}
                 for index, item in enumerate(items)]
        self.batches += 1
        try:
            answer = self.graph.request("POST", "/$batch", body={"requests": steps},
                                        budget=CallBudget(BATCH_BUDGET_SECONDS, self._clock))
        except GraphError as error:
            for item in items:
                self._settle_step(item, error)
            return
        except CredentialError as error:  # no token right now: as transient as Graph being unavailable
            for item in items:
                self._settle_step(item, GraphError(None, error.code, error.message))
            return
        by_id = {str(entry.get("id")): entry for entry in (answer or {}).get("responses") or []}
        for index, item in enumerate(items):
            entry = by_id.get(str(index))
            if entry is None:
                missing = GraphError(None, "missingResponse", "the batch answer has no entry for this step")
                self._settle_step(item, missing)
            elif 200 <= int(entry.get("status", 0)) < 300:
                self.on_done(item.row_key, item.group_id, "added", "", item.attempts, None)
            else:
                self._settle_step(item, _step_error(entry))

    def _send_bind(self, items: list[_Item]) -> None:
        """One PATCH adding every item's user to their (one) group; all-or-nothing, so any failure but a transient
        one sends each member again as a single add, where its own answer decides."""
        group_id = items[0].group_id
        references = [f"{self.graph.base_url}/directoryObjects/{item.user_id}" for item in items]
        self.binds += 1
        try:
            self.graph.request("PATCH", f"/groups/{quote(group_id, safe='')}", body={"members@odata.bind": references},
                               budget=CallBudget(BATCH_BUDGET_SECONDS, self._clock))
        except (GraphError, CredentialError) as failure:
            error = failure if isinstance(failure, GraphError) else GraphError(None, failure.code, failure.message)
            verdict = judge_membership(error, group_id)
            transient = error.status == 429 or (verdict.retry and not verdict.lag)
            if transient and items[0].attempts < MAX_BIND_ATTEMPTS:
                # Throttled or a server fault after the client's own retries: nothing was applied to anyone; the
                # same PATCH later. (A whole request's 429 was already counted, and paused everyone, in the paced
                # transport.)
                self._again(items, error.retry_after if error.retry_after is not None
                            else min(BACKOFF_CAP, 2.0 ** items[0].attempts), bind=True)
                return
            if verdict.lag:
                # Someone in it is not visible yet; at least the youngest was invited this long ago.
                self.lag.met_lag(self._clock() - max(item.invited_at or 0.0 for item in items))
            self.bind_fallbacks += 1
            self._again(items, 0.0, bind=False)
            return
        for item in items:
            self.on_done(item.row_key, item.group_id, "added", "", item.attempts, None)

    def _again(self, items: list[_Item], delay: float, *, bind: bool) -> None:
        not_before = self._clock() + delay
        for item in items:
            item.bind, item.not_before = bind, not_before
        with self._condition:
            self._waiting.extend(items)
            self._condition.notify_all()

    def _settle_step(self, item: _Item, error: GraphError) -> None:
        """The failure policy's verdict for one step: done, retry after a while (within lag_window), or failed."""
        verdict = judge_membership(error, item.group_id)
        if verdict.done:
            self.on_done(item.row_key, item.group_id, "already-member", "", item.attempts, None)
            return
        if verdict.lag and item.invited_at is not None:
            self.lag.met_lag(self._clock() - item.invited_at)
        text = f"{error.status} {error.code}: {error.message}"
        if error.status == 429:
            self.throttled += 1
            self.limiter.pause(error.retry_after if error.retry_after is not None else 1.0)
        waited = self._clock() - (item.first_tried or self._clock())
        if not verdict.retry or waited >= self.lag_window:
            self.on_done(item.row_key, item.group_id, "failed", text, item.attempts, failure_problem(verdict, error))
            return
        delay = error.retry_after if error.retry_after is not None else min(BACKOFF_CAP, 2.0 ** item.attempts)
        item.not_before = self._clock() + delay
        with self._condition:
            self._waiting.append(item)
            self._condition.notify_all()


def _step_error(entry: dict[str, Any]) -> GraphError:
    body = entry.get("body") if isinstance(entry.get("body"), dict) else {}
    error = body.get("error") or {}
    headers = {str(k).lower(): v for k, v in (entry.get("headers") or {}).items()}
    retry_after = retry_after_seconds(headers["retry-after"]) if "retry-after" in headers else None
    status = int(entry.get("status", 0))
    return GraphError(status, str(error.get("code") or f"HTTP{status}"), str(error.get("message") or ""),
                      headers.get("request-id") or (error.get("innerError") or {}).get("request-id"), retry_after)
