"""The guest lifecycle's rules (docs/lifecycle.md): recording a grant around a membership add, ending grants (the
hourly expiry and revokes), reminders on ``guest-expiring``, and the opt-in offboarding. Storage is
shared.grants; what is worth another try is decided by shared.failures, as everywhere.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from .app_context import QUEUE_BUDGET_SECONDS, AppContext
from .failures import judge, judge_membership, judge_removal
from .grants import (
    ACTIVE,
    ENDED,
    PENDING,
    REMOVING,
    Grant,
    GrantConflict,
    GrantStore,
    GuestRecord,
    later,
    record_status,
)
from .graph import GraphError
from .logging_setup import log_event
from .wire import EXPIRING_QUEUE, utc_text

REMOVAL_WORKERS = 8  # parallel removals: the Graph session's pool holds 10 connections
RUN_BUDGET_SECONDS = 8 * 60  # one timer run; what is left is done by the next run (Flex's timeout is 30 min)


# ---- around a membership add (shared.membership) -----------------------------------------------------------------
@dataclass(frozen=True)
class GrantAsk:
    """What a group-memberships message asks for: access to one group until a time."""

    user_id: str
    group_id: str
    until: dt.datetime
    request_id: str | None
    source: str | None
    email: str | None
    invited_by_app: bool
    attempt: int
    source_ref: dict[str, str] | None = None  # a SharePoint row (siteId, listId, itemId): its "Access status"


def before_add(store: GrantStore, ask: GrantAsk, now: dt.datetime) -> None:
    """Write the grant ``pending`` before the POST, unless it is already ours (active or being removed)."""

    def change(grant: Grant | None) -> Grant | None:
        if grant is not None and grant.state in (ACTIVE, REMOVING):
            return None
        if grant is not None and grant.state == PENDING and grant.request_id == ask.request_id:
            return None  # an earlier delivery's: its attempt number tells after_add that it posted
        base = Grant(ask.user_id, ask.group_id, ask.until, PENDING, ask.request_id, [], ask.source, ask.email,
                     ask.attempt, invited_by_app=ask.invited_by_app, source_ref=ask.source_ref,
                     created_at=utc_text(now))
        if grant is None:
            base.request_ids = [ask.request_id] if ask.request_id else []
            return base
        # ended (a new period) or another request's pending grant (that request's attempt no longer counts)
        base.request_ids = _with(grant.request_ids, ask.request_id)
        base.until = later(grant.until, ask.until) if grant.state == PENDING else ask.until
        base.invited_by_app = grant.invited_by_app or ask.invited_by_app
        base.etag = grant.etag
        return base

    store.update(ask.user_id, ask.group_id, change)


def after_add(ctx: AppContext, store: GrantStore, ask: GrantAsk, status: str, now: dt.datetime) -> str:
    """After the POST answered 204 ("added") or "already a member": the grant becomes active (or is extended),
    or, when the membership predates the request, is dropped. Returns what happened to the grant."""
    outcome = {"event": ""}

    def change(grant: Grant | None) -> Grant | None:
        if grant is None:
            if status != "added":
                outcome["event"] = "not-ours"
                return None
            grant = Grant(ask.user_id, ask.group_id, ask.until, PENDING, ask.request_id,
                          [ask.request_id] if ask.request_id else [], ask.source, ask.email, ask.attempt,
                          invited_by_app=ask.invited_by_app, source_ref=ask.source_ref, created_at=utc_text(now))
        if grant.state == ENDED and status == "already_member":
            # the timer removed the membership after our POST answered: add it again, then the grant is ours
            _readd(ctx, ask.user_id, ask.group_id, ask.request_id)
        ours = (status == "added" or grant.state in (ACTIVE, REMOVING, ENDED)
                or (grant.request_id == ask.request_id and grant.attempt < ask.attempt))
        if not ours:
            outcome["event"] = "not-ours"
            store.delete(grant)
            return None
        previous = grant.until if grant.state in (ACTIVE, REMOVING, PENDING) else ask.until
        extended = grant.state in (ACTIVE, REMOVING) and ask.until > grant.until
        changed = replace(grant, state=ACTIVE, until=later(previous, ask.until), ours=True,
                          request_id=ask.request_id or grant.request_id,
                          request_ids=_with(grant.request_ids, ask.request_id), email=ask.email or grant.email,
                          source=ask.source or grant.source, source_ref=ask.source_ref or grant.source_ref,
                          end_reason=None, ended_at=None,
                          invited_by_app=grant.invited_by_app or ask.invited_by_app)
        outcome["event"] = "extended" if extended else ("kept" if grant.state in (ACTIVE, REMOVING) else "granted")
        return changed

    grant = store.update(ask.user_id, ask.group_id, change)
    if grant is not None:
        if grant.invited_by_app:
            store.update_guest(ask.user_id, lambda record: None if record.invited_by_app and not record.last_ended_at
                               else replace(record, invited_by_app=True, last_ended_at=None))
        if outcome["event"] in ("granted", "extended"):
            record_status(outcome["event"], grant)
    log_event("grant.recorded", userId=ask.user_id, groupId=ask.group_id, requestId=ask.request_id,
              until=utc_text(ask.until), outcome=outcome["event"])
    return outcome["event"]


def _readd(ctx: AppContext, user_id: str, group_id: str, request_id: str | None) -> None:
    graph = ctx.graph()
    try:
        graph.add_member(group_id, user_id, graph.budget(QUEUE_BUDGET_SECONDS), request_id)
    except GraphError as error:
        if not judge_membership(error, group_id).done:
            raise


def _with(items: list[str], item: str | None) -> list[str]:
    return [*[i for i in items if i != item], item][-20:] if item else list(items)


# ---- ending grants: the hourly expiry and revokes ------------------------------------------------------------------
@dataclass
class EndResult:
    grant: Grant
    status: str  # "removed" | "retry" | "failed" | "skipped" (someone changed it meanwhile)
    error: dict[str, Any] | None = None


def end_grant(ctx: AppContext, store: GrantStore, grant: Grant, reason: str, now: dt.datetime) -> EndResult:
    """Claim the grant (ETag), DELETE the membership, record it ended. A retry verdict leaves it ``removing``: the
    next run (or revoke) finishes it. A member added by someone else has no grant, so it is never reached here."""
    if grant.state == ACTIVE:
        claimed = replace(grant, state=REMOVING, end_reason=reason)
        try:
            grant = store.save(claimed)
        except GrantConflict:
            return EndResult(grant, "skipped")
    elif grant.state != REMOVING:
        return EndResult(grant, "skipped")
    graph = ctx.graph()
    try:
        graph.remove_member(grant.group_id, grant.user_id, graph.budget(QUEUE_BUDGET_SECONDS), grant.request_id)
    except Exception as failure:
        verdict = judge_removal(failure)
        if not verdict.done:
            assert verdict.problem is not None
            error = {"kind": verdict.problem.kind, "detail": verdict.problem.detail,
                     **({"requiredPermission": verdict.problem.extensions["requiredPermission"]}
                        if "requiredPermission" in verdict.problem.extensions else {})}
            log_event("grant.remove_failed", level=logging.WARNING if verdict.retry else logging.ERROR,
                      userId=grant.user_id, groupId=grant.group_id, retry=verdict.retry, error=error)
            return EndResult(grant, "retry" if verdict.retry else "failed", error)
    ended = replace(grant, state=ENDED, ended_at=utc_text(now), end_reason=grant.end_reason or reason)
    try:
        ended = store.save(ended)
    except GrantConflict:
        # renewed while we removed it: the membership must exist again
        current = store.get(grant.user_id, grant.group_id)
        if current is not None and current.state == ACTIVE:
            _readd(ctx, grant.user_id, grant.group_id, current.request_id)
            log_event("grant.renewed_during_removal", userId=grant.user_id, groupId=grant.group_id)
            return EndResult(current, "skipped")
        raise
    log_event("grant.ended", userId=grant.user_id, groupId=grant.group_id, reason=ended.end_reason,
              until=ended.until_text, requestId=ended.request_id)
    record_status(ended.end_reason or reason, ended)
    _note_guest_ended(store, grant.user_id, now)
    return EndResult(ended, "removed")


def _note_guest_ended(store: GrantStore, user_id: str, now: dt.datetime) -> None:
    """When a guest's last grant ends, the offboarding grace period starts."""
    record = store.guest(user_id)  # a point read first: most grants' guests were not invited by this app
    if record is None or not record.invited_by_app:
        return
    if any(g.state in (PENDING, ACTIVE, REMOVING) for g in store.of_user(user_id)):
        return
    store.update_guest(user_id, lambda r: replace(r, last_ended_at=utc_text(now), offboarded_at=None))


@dataclass
class RunReport:
    removed: int = 0
    retry: int = 0
    failed: int = 0
    reminded: int = 0
    offboarded: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"removed": self.removed, "retry": self.retry, "failed": self.failed, "reminded": self.reminded,
                "offboarded": self.offboarded}


def run_expiry(ctx: AppContext, store: GrantStore, now: dt.datetime | None = None) -> RunReport:
    """The hourly run: end every due grant, send the reminders that are due, offboard as configured."""
    now = now or ctx.utcnow()
    settings = ctx.settings()
    started = ctx.timing.clock()
    report = RunReport()
    due = store.due(now)
    _end_all(ctx, store, due, "expired", now, report, started)
    if settings.expiry_reminder_days:
        remind(ctx, store, now, settings.expiry_reminder_days, report)
    if settings.offboarding_action != "none":
        offboard(ctx, store, now, report)
    log_event("grants.run", level=logging.WARNING if report.retry or report.failed else logging.INFO,
              due=len(due), **report.to_dict())
    return report


def _end_all(ctx: AppContext, store: GrantStore, grants: list[Grant], reason: str, now: dt.datetime,
             report: RunReport, started: float) -> list[EndResult]:
    def one(grant: Grant) -> EndResult:
        if ctx.timing.clock() - started > RUN_BUDGET_SECONDS:
            return EndResult(grant, "retry", {"kind": "run-budget", "detail": "left for the next run"})
        return end_grant(ctx, store, grant, reason, now)

    with ThreadPoolExecutor(REMOVAL_WORKERS) as pool:
        results = list(pool.map(one, grants))
    for result in results:
        if result.status == "removed":
            report.removed += 1
        elif result.status == "retry":
            report.retry += 1
        elif result.status == "failed":
            report.failed += 1
            if result.error and len(report.errors) < 10:
                report.errors.append(result.error)
    return results


def revoke(ctx: AppContext, store: GrantStore, request_id: str, now: dt.datetime | None = None) -> list[EndResult]:
    """End now every grant this request asked for (``DELETE /api/invitations/{requestId}``, ``cli.py revoke``).
    A grant still ``pending`` (its add not done yet) is reported as such and left alone; one already ended as
    "ended"."""
    now = now or ctx.utcnow()
    results: list[EndResult] = []
    for grant in store.for_request(request_id):
        if grant.state == ENDED:
            results.append(EndResult(grant, "ended"))  # a repeated revoke (its first answer lost) is answered 200
            continue
        if grant.state == PENDING:
            results.append(EndResult(grant, "pending"))
            continue
        results.append(end_grant(ctx, store, grant, "revoked", now))
    return results


# ---- reminders ---------------------------------------------------------------------------------------------------
def remind(ctx: AppContext, store: GrantStore, now: dt.datetime, days: int, report: RunReport) -> None:
    """A message on ``guest-expiring`` for each active grant ending within ``days``, once per end date (a renewal
    to a later date earns a new one). The message is sent before the grant records it: a crash in between sends it
    again next run rather than never."""
    soon = now + dt.timedelta(days=days)
    candidates = list(store.all("State eq 'active' and Until gt @now and Until le @soon",
                                {"now": utc_text(now), "soon": utc_text(soon)}))
    queue = None
    for grant in candidates:
        if grant.reminded_for == grant.until_text:
            continue
        if queue is None:
            queue = _expiring_queue()
        message = {"userId": grant.user_id, "groupId": grant.group_id, "email": grant.email, "until": grant.until_text,
                   "daysLeft": max(0, (grant.until - now).days), "requestId": grant.request_id}
        queue.send_message(json.dumps(message))
        with contextlib.suppress(GrantConflict):  # renewed meanwhile: its new end date earns its own reminder
            store.save(replace(grant, reminded_for=grant.until_text))
        report.reminded += 1
        record_status("reminded", grant)


def _expiring_queue() -> Any:
    from azure.core.exceptions import ResourceExistsError

    from .sharepoint.storage import queue_client

    client = queue_client(EXPIRING_QUEUE)
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()  # the deployment creates it; a local Azurite may not have it yet
    return client


# ---- offboarding (opt-in) -----------------------------------------------------------------------------------------
def offboard(ctx: AppContext, store: GrantStore, now: dt.datetime, report: RunReport) -> None:
    """OFFBOARDING_ACTION for each guest this app invited whose last grant ended OFFBOARDING_GRACE_DAYS ago: block
    sign-in (disable) or delete. Never a member (userType must be Guest), never a guest the app did not invite,
    never one with a grant left."""
    settings = ctx.settings()
    action = settings.offboarding_action
    grace = dt.timedelta(days=settings.offboarding_grace_days)
    for record in store.guests():
        ended = record.last_ended_at
        if not record.invited_by_app or record.offboarded_at or not ended or _parse(ended) + grace > now:
            continue
        if any(g.state in (PENDING, ACTIVE, REMOVING) for g in store.of_user(record.user_id)):
            continue
        result = offboard_guest(ctx, record, action)
        if result is None:
            report.retry += 1
            continue
        store.update_guest(record.user_id, lambda r, done=result: replace(r, offboarded_at=utc_text(now),
                                                                            offboard_action=done))
        report.offboarded += 1 if result in ("disable", "delete") else 0


def offboard_guest(ctx: AppContext, record: GuestRecord, action: str) -> str | None:
    """The action taken ("disable", "delete", "gone", "skipped-member"), or None to try again next run. A missing
    permission is logged with its name and tried again next run (an operator may grant it meanwhile)."""
    graph = ctx.graph()
    budget = graph.budget(QUEUE_BUDGET_SECONDS)
    operation = "disable-user" if action == "disable" else "delete-user"
    try:
        user = graph.get_user(record.user_id, ("id", "userType", "accountEnabled"), budget)
        if user.get("userType") != "Guest":
            log_event("grant.offboard_skipped", level=logging.WARNING, userId=record.user_id, reason="not a guest")
            return "skipped-member"
        if action == "disable":
            graph.disable_user(record.user_id, budget)
        else:
            graph.delete_user(record.user_id, budget)
    except Exception as failure:
        verdict = judge_removal(failure, operation) if action == "delete" else judge(failure, operation)
        if isinstance(failure, GraphError) and failure.status == 404:
            return "gone"
        if verdict.done:
            return action
        assert verdict.problem is not None
        log_event("grant.offboard_failed", level=logging.ERROR, userId=record.user_id, action=action,
                  problem=verdict.problem.kind, detail=verdict.problem.detail,
                  requiredPermission=verdict.problem.extensions.get("requiredPermission"))
        return None
    log_event("grant.offboarded", userId=record.user_id, action=action)
    return action


def _parse(text: str) -> dt.datetime:
    from .wire import parse_utc

    return parse_utc(text) or dt.datetime.max.replace(tzinfo=dt.UTC)
