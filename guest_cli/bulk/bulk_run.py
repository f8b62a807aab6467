"""One bulk run: invite the rows concurrently through the intake pipeline (shared.intake.admit: policy, look up,
invite if needed), hand their memberships to the batcher, and record each row's outcome as it settles.

Rows already done in the results file are skipped; a row with a recorded user id goes straight to its groups once
that user is re-checked (the row's person, the membership policy), so a resumed run never invites anyone twice even
while a new guest is not yet visible to lookups, and a planted user id adds no one.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from shared import app_context, lifecycle
from shared.access import access_until
from shared.failures import judge
from shared.graph import MEMBERSHIP_USER_FIELDS, GraphClient, GraphError
from shared.intake import Refused, admit
from shared.policy import check_member_policy, user_addresses
from shared.problems import internal_error, problem_text
from shared.settings import Settings
from shared.status import record_problem
from shared.wire import utc_text

from .membership_batches import MembershipBatcher
from .progress import ProgressDisplay
from .rate_limit import RateLimiter
from .results import EXISTING, FAILED, INVITED, ResultsFile, RowResult
from .row_requests import BulkRow
from .status_records import RowStatus

ROW_BUDGET_SECONDS = 120.0  # one row's lookup + invitation, retries and pacing included


@dataclass(frozen=True)
class Recheck:
    trusted: bool  # the recorded user id is this row's person
    error: str = ""  # the row fails with this reason (policy refuses, or the user cannot be read yet)


@dataclass
class RunSummary:
    rows: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0  # done in an earlier run
    invited: int = 0


class BulkRun:
    def __init__(self, settings: Settings, graph: GraphClient, limiter: RateLimiter, results: ResultsFile,
                 progress: ProgressDisplay, *, concurrency: int = 8, lag_window: float = 900.0,
                 clock: Callable[[], float] = time.monotonic, records: RowStatus | None = None) -> None:
        self.settings = settings
        self.graph = graph
        self.limiter = limiter
        self.results = results
        self.progress = progress
        self.records = records or RowStatus()  # the rows' status records (none without storage)
        self.concurrency = max(1, concurrency)
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: dict[tuple[int, str], RowResult] = {}
        self._open_groups: dict[tuple[int, str], set[str]] = {}
        self.summary = RunSummary()
        # Rows with an end: each membership is recorded as a grant around its add (shared.lifecycle), as the
        # group-memberships worker does.
        self._asks: dict[tuple[tuple[int, str], str], lifecycle.GrantAsk] = {}
        self._store: Any = None
        self.batcher = MembershipBatcher(graph, limiter, self._group_done, lag_window=lag_window,
                                         senders=max(1, self.concurrency // 4), clock=clock)

    def run(self, rows: list[BulkRow], history: dict[tuple[int, str], RowResult]) -> RunSummary:
        self.summary.rows = len(rows)
        todo = []
        for row in rows:
            earlier = history.get(row.key)
            if earlier is not None and earlier.done:
                self.summary.skipped += 1
                self.progress.row_skipped()
            else:
                todo.append((row, earlier))
        try:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix="invite") as pool:
                futures = [pool.submit(self._start_row, row, earlier) for row, earlier in todo]
                try:
                    self._wait(futures)
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
            self.batcher.close()
            self.batcher.join()
        except BaseException:
            self.batcher.stop()
            raise
        finally:
            # Every record write asked so far is done before the run reports (or the process exits on Ctrl-C: a
            # re-run writes the records of the rows it resumes).
            self.records.close()
        return self.summary

    @staticmethod
    def _wait(futures: list) -> None:
        pending = set(futures)
        while pending:
            # Short waits keep the main thread able to take Ctrl-C; a worker's exception stops the run.
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
            for future in finished:
                if future.exception() is not None:
                    raise future.exception()

    def _start_row(self, row: BulkRow, earlier: RowResult | None) -> None:
        request = row.request
        # A row keeps the request id of its first run (its status record's key), unless it names a record that is
        # not this row's (a planted id: RowStatus.may_keep).
        kept = earlier.request_id if earlier is not None else ""
        request_id = kept if kept and self.records.may_keep(kept, request.email) else str(uuid.uuid4())
        result = RowResult(row.line, request.email, request_id=request_id)
        invited_at: float | None = None  # set when this run invites the person: their writes wait out the lag
        until = None
        recheck = self._recheck(row, earlier.user_id) if earlier is not None and earlier.user_id else None
        if recheck is not None and recheck.error:
            result.user_id, result.error = earlier.user_id if earlier else "", recheck.error
            self._finish(row.key, result.with_status())
            return
        trusted = earlier if recheck is not None and recheck.trusted else None
        if earlier is not None and trusted is not None:
            # An earlier run found or invited this person (re-checked just now): go straight to the groups still open.
            result.invitation, result.user_id, result.redeem_url = earlier.invitation, earlier.user_id, \
                earlier.redeem_url
        else:
            admitted = admit(request, request_id, lambda: self.settings, lambda: self.graph,
                             ROW_BUDGET_SECONDS, app_context.current().utcnow)
            if isinstance(admitted, Refused):
                result.error = problem_text(admitted.problem)
                self._finish(row.key, result.with_status())
                return
            result.user_id = admitted.person.user_id
            result.redeem_url = admitted.person.redeem_url or ""
            result.invitation = INVITED if admitted.person.invited else EXISTING
            until = admitted.until
            if result.invitation == INVITED:
                invited_at = self._clock()
                with self._lock:
                    self.summary.invited += 1
        # Groups an earlier run recorded as done count only for the person it was re-checked to be.
        already = {group for group, state in (trusted.groups if trusted else {}).items()
                   if state in ("added", "already-member")}
        result.groups = {group: (trusted.groups[group] if trusted and group in already else "pending")
                         for group in request.group_ids}
        open_groups = [group for group in request.group_ids if group not in already]
        if trusted is not None and open_groups:
            until = access_until(request, self.settings, app_context.current().utcnow())  # resumed: from now
        # Accepted: the record before any group's update (the same writer keeps them in order).
        self.records.accepted(request_id, email=request.email, user_id=result.user_id,
                              invited=result.invitation == INVITED, group_ids=list(request.group_ids),
                              until=utc_text(until) if until is not None else None,
                              settled={group: result.groups[group] for group in already})
        if not open_groups:
            self._finish(row.key, result.with_status())
            return
        if until is not None:
            try:
                self._intend(row, result, until, open_groups, resumed=earlier is not None)
            except Exception as error:  # storage: the row fails with the reason, nothing is added
                result.error = f"the grants could not be recorded: {type(error).__name__}: {str(error)[:200]}"
                for group in open_groups:
                    self.records.group(request_id, group, "failed", 0, _problem("GrantNotRecorded", result.error))
                self._finish(row.key, result.with_status())
                return
        with self._lock:
            self._rows[row.key] = result
            self._open_groups[row.key] = set(open_groups)
        self.results.record(result.with_status())  # the user exists now: a crash from here on resumes at the groups
        self.batcher.submit(row.key, result.user_id, open_groups, invited_at=invited_at)

    def _intend(self, row: BulkRow, result: RowResult, until: Any, groups: list[str], *, resumed: bool) -> None:
        from shared.grants import grant_store

        if self._store is None:
            self._store = grant_store()
        now = app_context.current().utcnow()
        for group in groups:
            # attempt 2 on a resumed run: an earlier run's add may have been applied ("already a member" is ours)
            # The grant carries the row's request id: DELETE /api/invitations/{requestId} revokes it, and its
            # renewals and end reach the row's status record, as for a request of the HTTP door.
            ask = lifecycle.GrantAsk(str(result.user_id), group, until, result.request_id, "bulk", row.request.email,
                                     result.invitation == INVITED, 2 if resumed else 1)
            lifecycle.before_add(self._store, ask, now)
            with self._lock:
                self._asks[(row.key, group)] = ask

    def _record_grant(self, row_key: tuple[int, str], group_id: str, state: str) -> str:
        """After an add: the grant recorded; "" or the reason it could not be (the row then fails: a rerun
        records it, the add answering "already a member")."""
        with self._lock:
            ask = self._asks.pop((row_key, group_id), None)
        if ask is None or state not in ("added", "already-member"):
            return ""
        try:
            lifecycle.after_add(app_context.current(), self._store, ask,
                                "added" if state == "added" else "already_member", app_context.current().utcnow())
        except Exception as error:
            return f"added, but its grant could not be recorded: {type(error).__name__}: {str(error)[:200]}"
        return ""

    def _recheck(self, row: BulkRow, user_id: str) -> Recheck:
        """The results file is not trusted (anyone who can write it could plant a user id): the recorded user must
        be the row's person (one of their addresses is the row's email) and pass the membership policy, as the
        group-memberships worker checks it. Someone else → re-derived from the email (trusted=False); not readable
        yet (a new guest's replication lag) or refused → the row fails with the reason, and a re-run checks again."""
        budget = self.graph.budget(ROW_BUDGET_SECONDS)
        try:
            user = self.graph.get_user(user_id, MEMBERSHIP_USER_FIELDS, budget)
        except GraphError as error:
            if error.status == 404 or error.status == 400:  # a lagging new guest, or not a user id at all
                return Recheck(False, "" if error.status == 400 else
                               f"the user {user_id[:40]} recorded by an earlier run is not visible yet; run the same "
                               "command again to resume")
            return Recheck(False, problem_text(judge(error).problem or internal_error()))
        email = row.request.email.casefold()
        if email not in {address.casefold() for address in user_addresses(user)}:
            return Recheck(False)  # not this row's person: find them by the row's own email
        refusal = check_member_policy(self.settings, user)
        return Recheck(True, problem_text(refusal) if refusal else "")

    def _group_done(self, row_key: tuple[int, str], group_id: str, state: str, error: str, attempts: int = 0,
                    problem: dict[str, Any] | None = None) -> None:
        unrecorded = self._record_grant(row_key, group_id, state)
        if unrecorded:
            state, error, problem = "failed", unrecorded, _problem("GrantNotRecorded", unrecorded)
        with self._lock:
            result = self._rows[row_key]
        self.records.group(result.request_id, group_id, state, attempts,
                           problem or (_problem("MembershipFailed", error) if state == "failed" else None))
        with self._lock:
            result.groups[group_id] = state
            if error:
                result.error = "; ".join(filter(None, [result.error, f"group {group_id}: {error}"]))
            self._open_groups[row_key].discard(group_id)
            if self._open_groups[row_key]:
                return
            del self._open_groups[row_key], self._rows[row_key]
        self._finish(row_key, result.with_status())

    def _finish(self, row_key: tuple[int, str], result: RowResult) -> None:
        self.results.record(result)
        ok = result.status != FAILED
        with self._lock:
            if ok:
                self.summary.done += 1
            else:
                self.summary.failed += 1
        self.progress.row_finished(ok)


def _problem(code: str, message: str) -> dict[str, Any]:
    """A status record's problem for a failure that is not one of Graph's answers (its fields as the worker's)."""
    return record_problem({"code": code, "message": message})
