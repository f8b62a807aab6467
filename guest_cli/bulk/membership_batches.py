"""Group memberships of a bulk run, sent through JSON batching: up to 20 ``members/$ref`` adds per
``POST /v1.0/$batch`` (MGDC concepts/json-batching.md), each step judged on its own by the core's
:func:`shared.failures.judge_membership` (the same done / retry / fail rules as the queue worker).

Why $batch and not ``PATCH /groups/{id}`` with ``members@odata.bind``: that PATCH is all-or-nothing (one existing
member fails the whole request with 400, MGDC api/group-update.md), while a batch answers per step, so "already a
member" (done), the replication-lag 404 (retry later) and a refusal (failed) can be told apart for each person.
Each step is throttled on its own (429 with Retry-After in its headers): that pauses every worker, and the step is
sent again. Steps answering with replication lag are retried with backoff for up to ``lag_window`` seconds (the
2017 write-up of this flow saw up to 10 minutes).
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

from .paced_transport import retry_after_seconds
from .rate_limit import RateLimiter

MAX_BATCH = 20  # "JSON batch requests are currently limited to 20 individual requests" (json-batching.md)
LINGER_SECONDS = 0.2  # wait this long for a fuller batch while invitations are still coming in
BACKOFF_CAP = 60.0
BATCH_BUDGET_SECONDS = 60.0

# (row key, group id, "added" | "already-member" | "failed", error text or "")
ItemDone = Callable[[Any, str, str, str], None]


@dataclass
class _Item:
    row_key: Any
    user_id: str
    group_id: str
    first_tried: float | None = None
    attempts: int = 0
    not_before: float = 0.0


class MembershipBatcher:
    def __init__(self, graph: GraphClient, limiter: RateLimiter, on_done: ItemDone, *, lag_window: float = 900.0,
                 senders: int = 2, clock: Callable[[], float] = time.monotonic) -> None:
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
        self.batches = 0  # $batch requests sent
        self.throttled = 0  # inner 429s met
        self._threads = [threading.Thread(target=self._sender, name=f"memberships-{n}", daemon=True)
                         for n in range(max(1, senders))]
        for thread in self._threads:
            thread.start()

    def submit(self, row_key: Any, user_id: str, group_ids: tuple[str, ...] | list[str]) -> None:
        with self._condition:
            self._waiting.extend(_Item(row_key, user_id, group_id) for group_id in group_ids)
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
                    self.on_done(item.row_key, item.group_id, "failed", f"unexpected error: {error!r}")
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
                ready = [item for item in self._waiting if item.not_before <= now]
                full = len(ready) >= MAX_BATCH or self._closed
                oldest_wait = min((now - item.not_before for item in ready), default=0.0)
                if ready and (full or oldest_wait >= LINGER_SECONDS):
                    batch = ready[:MAX_BATCH]
                    chosen = {id(item) for item in batch}
                    self._waiting = [item for item in self._waiting if id(item) not in chosen]
                    self._in_flight += len(batch)
                    return batch
                wake = [item.not_before - now for item in self._waiting if item.not_before > now]
                timeout = LINGER_SECONDS if ready else (min(wake) if wake else None)
                self._condition.wait(timeout=timeout if timeout is None else max(0.01, timeout))

    def _send(self, items: list[_Item]) -> None:
        now = self._clock()
        for item in items:
            item.attempts += 1
            item.first_tried = now if item.first_tried is None else item.first_tried
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
                self.on_done(item.row_key, item.group_id, "added", "")
            else:
                self._settle_step(item, _step_error(entry))

    def _settle_step(self, item: _Item, error: GraphError) -> None:
        """The failure policy's verdict for one step: done, retry after a while (within lag_window), or failed."""
        verdict = judge_membership(error, item.group_id)
        if verdict.done:
            self.on_done(item.row_key, item.group_id, "already-member", "")
            return
        text = f"{error.status} {error.code}: {error.message}"
        if error.status == 429:
            self.throttled += 1
            self.limiter.pause(error.retry_after if error.retry_after is not None else 1.0)
        waited = self._clock() - (item.first_tried or self._clock())
        if not verdict.retry or waited >= self.lag_window:
            self.on_done(item.row_key, item.group_id, "failed", text)
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
