"""Add one user to one group from a ``group-memberships`` message, and decide: done, wait, try again, or poison.

- Before the write, one read of the user (``GET /users/{id}?$select=id,userType,mail,otherMails,userPrincipalName``):
  a user who is not a guest (unless ALLOW_MEMBER_USERS) or whose address the domain policy refuses is poisoned at once
  (policy-refused); its 404 is replication lag, a wait like the write's own, without spending a directory write.
- 204, or "already a member" → done.
- A wait is not a failure (issue 14 #4): when Graph asks us to come back (429/503 with or without Retry-After, the
  Retry-After beyond the invocation's 30 s budget included) or the new guest is not visible yet (replication lag),
  the failure policy's verdict is a *wait* (shared.failures.WAIT_KINDS) and the message is put back on its queue
  with a visibility delay: the wait Graph asked for, or the lag backoff (2, 4, 8 … s). The message counts its
  tries (``attempts``) and the invocation succeeds: no failed execution, no exception record. After
  maxDequeueCount tries in all it is poisoned with the reason.
- A NEW guest's first message (``newGuest``, written by the intake pipeline with ``invitedAt``) is held, put back
  without a directory write, until the guest is as old as the delay this process learned from the lag it observed
  (shared.lag); a held copy that comes back while the delay has grown meanwhile is held again for the difference.
  The first write after a hold teaches the delay. A new process starts from the delay the app's other processes
  shared (read on its first new guest's message, best effort: shared.lag).
- Any other retry verdict is a fault: :class:`RetryLater` is raised, so the host delivers the message again after
  host.json's visibilityTimeout; on the last delivery → poison with the reason instead; give up (a missing
  permission, the group's 404, an unreadable message, a group outside ALLOWED_GROUP_IDS) → poison at once.
- Nothing is lost if the process dies between the re-enqueue and the end of the invocation: the copy is written
  before the invocation succeeds, so at worst both the copy and the original (redelivered after visibilityTimeout)
  are tried, and adding a member twice ends as "already a member" (done). Queue delivery is at-least-once anyway.
- Every state change of the group is written to the request's status record (shared.status): waiting again
  (best effort: the copy on the queue matters more), and the final outcome, which like the outcome hooks must be
  recorded: one that cannot be recorded yet raises RetryLater (redelivery; the add then answers "already a member")
  or, on the last delivery, poisons the message with the reason.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from . import app_context, storage
from .app_context import QUEUE_BUDGET_SECONDS, AppContext
from .failures import RetryLater, Verdict, group_kind_problem, judge, judge_membership, missing_permission
from .graph import MEMBERSHIP_USER_FIELDS, CallBudget, GraphClient, GraphError
from .lag import MIN_HOLD_SECONDS
from .logging_setup import log_event
from .policy import check_member_policy
from .problems import FieldError, Problem, policy_refused, problem_text
from .requests_model import GUID_PATTERN, REQUEST_ID_PATTERN
from .settings import SettingsError
from .wire import MEMBERSHIP_QUEUE, parse_utc, poison_message, read_queue_body, utc_text

# The message members this worker adds when it puts a message back (removed again from a poison message, so that
# requeueing it from the poison queue starts afresh).
ATTEMPTS, FIRST_DELAY = "attempts", "firstDelay"
INVITED_AT = "invitedAt"  # when the intake pipeline invited the new guest (kept in a poison message: still true)
MAX_VISIBILITY_SECONDS = 7 * 86400 - 1  # Azure Queue storage: a visibility timeout is less than 7 days

__all__ = ["MembershipOutcome", "MembershipResult", "RetryLater", "decode_message", "process_membership"]


@dataclass
class MembershipOutcome:
    """A final outcome, given to the application context's outcome hooks (``source``: the producer's object)."""

    status: str  # "added" | "already_member" | "poisoned"; not final: "waiting" (put back with a delay)
    user_id: str | None
    group_id: str | None
    request_id: str | None
    source: Any
    message: Any  # the parsed message, or its raw text when unreadable
    error: dict[str, Any] | None = None
    attempts: int = 1


@dataclass
class MembershipResult:
    outcome: MembershipOutcome
    poison: str | None = None  # the group-memberships-poison message to write, if any


def process_membership(body: bytes | str, dequeue_count: int | None,
                       ctx: AppContext | None = None) -> MembershipResult:
    """Handle one delivery. Returns the outcome (and a poison message when it failed for good); a wait puts the
    message back with a delay and returns a "waiting" outcome; raises RetryLater for the host to try again."""
    ctx = ctx or app_context.current()
    started = ctx.timing.clock()
    message, fields, problem = decode_message(body)
    earlier = earlier_attempts(fields)
    attempts = earlier + (dequeue_count or 1)
    if problem is not None:  # an unreadable message's source is not trusted either: no hook sees it
        return _finish(ctx, _outcome("poisoned", fields, message, problem, attempts), started, hooks=False)
    new_guest_first = fields.get("newGuest") is True and earlier == 0
    if new_guest_first:  # hold the message until the guest is as old as the learned delay (shared.lag)
        ctx.first_delay.load_shared()  # once per process: start from what the app's other instances learned
        held = _hold(ctx, message, fields)
        if held is not None:
            return held
    # The first write of a new guest teaches the delay: meeting the lag always (the guest was at least as old as the
    # delay: it is too short); finding the guest only after a hold (at an age past the delay it says little).
    learning = new_guest_first and FIRST_DELAY in fields
    try:
        ask = _grant_ask(fields, attempts)
        store = None
        if ask is not None:  # a membership with an end: recorded as a grant around the add (shared.lifecycle)
            from . import lifecycle  # lazy: the storage SDKs are for messages with an end only (cold start)
            from .grants import grant_store

            store = grant_store()
            lifecycle.before_add(store, ask, ctx.utcnow())
        status = _add(ctx, fields["userId"], fields["groupId"], fields.get("requestId"))
        if ask is not None and store is not None:
            lifecycle.after_add(ctx, store, ask, status, ctx.utcnow())
    except Exception as failure:  # every failure becomes the policy's verdict; a bug is logged whole first
        verdict = judge_membership(failure, fields["groupId"])
        if new_guest_first and verdict.lag:
            ctx.first_delay.observed(lagged=True)
        verdict = verdict.final(attempts, ctx.max_dequeue_count())
        bug = verdict.problem is not None and verdict.problem.kind == "internal-error"
        if bug:
            log_event("membership.bug", level=logging.ERROR, log_pii=_log_pii(ctx), attempts=attempts, **_ids(fields),
                      exc_info=True)
            if verdict.retry:
                raise  # the host's own log keeps the real traceback too
        error = membership_error(verdict, failure)
        if verdict.wait:
            return _wait(ctx, verdict, message, fields, error, attempts, started)
        if verdict.retry:
            log_event("membership.retry", level=logging.WARNING, log_pii=_log_pii(ctx), attempts=attempts,
                      **_ids(fields), error=error, durationMs=_ms(ctx.timing.clock() - started))
            raise RetryLater(error.get("message")) from failure
        return _finish(ctx, _outcome("poisoned", fields, message, error, attempts), started)
    if learning:
        ctx.first_delay.observed(lagged=False)
    return _finish(ctx, _outcome(status, fields, message, None, attempts), started)


def _hold(ctx: AppContext, message: dict[str, Any], fields: dict[str, Any]) -> MembershipResult | None:
    """Put a new guest's message back for what is left of the learned delay since its invitation (no directory
    write), or None to write now. A message without a readable ``invitedAt`` (another producer) is taken as
    invited now, and the copy carries that time, so a hold is measured once from one moment."""
    now = ctx.utcnow()
    invited_at = parse_utc(fields.get(INVITED_AT)) or now
    wait = ctx.first_delay.remaining(invited_at, now)
    if wait <= 0 or (FIRST_DELAY in fields and wait < MIN_HOLD_SECONDS):
        return None
    delay = ctx.first_delay.seconds
    _put_back(ctx, message, 0, wait, {FIRST_DELAY: round(delay, 1),
                                       INVITED_AT: utc_text(min(invited_at, now), milliseconds=True)})
    log_event("membership.deferred", log_pii=_log_pii(ctx), **_ids(fields), delaySeconds=wait,
              learnedDelaySeconds=round(delay, 1), again=FIRST_DELAY in fields)
    return MembershipResult(_outcome("waiting", fields, message, None, 0))


def earlier_attempts(fields: dict[str, Any]) -> int:
    """The tries a message already had before it was put back (its ``attempts``; anything else counts as 0)."""
    value = fields.get(ATTEMPTS)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
        return 0
    return value


def _wait(ctx: AppContext, verdict: Verdict, message: Any, fields: dict[str, Any], error: dict[str, Any],
          attempts: int, started: float) -> MembershipResult:
    """Put the message back with the wait the verdict asks for; the invocation then succeeds."""
    assert verdict.problem is not None
    # A guest still not visible (lag: a new object, whoever invited it) waits at least the (just grown) learned
    # delay and its own age rather than the short backoff (shared.lag); the estimate counts for lag verdicts only.
    estimate = ctx.first_delay.after_lag(parse_utc(fields.get(INVITED_AT)), ctx.utcnow())
    delay = verdict.wait_seconds(attempts, estimate)
    _put_back(ctx, message, attempts, delay, {})
    due = utc_text(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay))
    log_event("membership.wait", log_pii=_log_pii(ctx), attempts=attempts, **_ids(fields), reason=verdict.problem.kind,
              delaySeconds=delay, graphRequestId=error.get("graphRequestId"),
              durationMs=_ms(ctx.timing.clock() - started))
    request_id = _status_id(fields)
    if request_id is not None:
        from .status import QUEUED, store

        try:  # best effort: the message is already back on its queue, which is what matters
            store(ctx).group(request_id, fields["groupId"], QUEUED, attempts, next_attempt_at=due,
                             waiting_for=verdict.problem.kind)
        except Exception as failure:
            log_event("membership.status_failed", level=logging.WARNING, requestId=request_id,
                      groupId=fields["groupId"], error=f"{type(failure).__name__}: {str(failure)[:200]}")
    return MembershipResult(_outcome("waiting", fields, message, error, attempts))


def _put_back(ctx: AppContext, message: dict[str, Any], attempts: int, delay: float, extra: dict[str, Any]) -> None:
    """Send a copy of the message with a visibility delay (an output binding cannot set one); a storage failure
    is a fault: RetryLater, and the host redelivers the original."""
    body = json.dumps({**message, **extra, ATTEMPTS: attempts}, ensure_ascii=False)
    visibility = max(0, min(MAX_VISIBILITY_SECONDS, math.ceil(ctx.timing.queue_delay(delay))))
    try:
        storage.queue_client(MEMBERSHIP_QUEUE, ctx).send_message(body, visibility_timeout=visibility)
    except Exception as failure:
        problem = judge(failure).problem
        log_event("membership.requeue_failed", level=logging.WARNING, log_pii=_log_pii(ctx), attempts=attempts,
                  **_ids(message), error=problem_text(problem) if problem else str(failure)[:200])
        raise RetryLater(problem_text(problem) if problem else "the message could not be put back") from failure


def decode_message(body: bytes | str) -> tuple[Any, dict[str, Any], dict[str, Any] | None]:
    """(the message as parsed, or its text; its fields; a problem or None)."""
    decoded = read_queue_body(body)
    parsed = decoded.value if isinstance(decoded.value, dict) else None
    if parsed is None:
        return decoded.text, {}, _invalid("the message is not a JSON object (plain or base64)")
    wrong = [name for name in ("userId", "groupId")
             if not isinstance(parsed.get(name), str) or not re.fullmatch(GUID_PATTERN, parsed[name])]
    if wrong:
        return parsed, parsed, _invalid(f"{' and '.join(wrong)} must be {'GUIDs' if len(wrong) > 1 else 'a GUID'}")
    if parsed.get("accessUntil") is not None and parse_utc(parsed["accessUntil"]) is None:
        return parsed, parsed, _invalid("accessUntil must be an ISO 8601 date-time (e.g. 2027-03-31T17:00:00Z)")
    return parsed, {**parsed, "userId": parsed["userId"].lower(), "groupId": parsed["groupId"].lower()}, None


def _grant_ask(fields: dict[str, Any], attempts: int) -> Any:
    """The lifecycle's GrantAsk for a message with an end, else None."""
    until = parse_utc(fields.get("accessUntil"))
    if until is None:
        return None  # no end: nothing to record, as before the lifecycle feature
    from . import lifecycle
    source = fields.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    request_id = fields.get("requestId") if isinstance(fields.get("requestId"), str) else None
    email = fields.get("email") if isinstance(fields.get("email"), str) else None
    reference = None
    if kind == "sharepoint" and isinstance(source, dict):  # the row whose "Access status" follows the grant
        reference = {name: str(source.get(name))[:200] for name in ("siteId", "listId", "itemId")}
    return lifecycle.GrantAsk(fields["userId"], fields["groupId"], until, request_id,
                              kind if isinstance(kind, str) else "queue", email, fields.get("invitedByApp") is True,
                              attempts, reference)


def _invalid(message: str) -> dict[str, Any]:
    return {"status": None, "code": "InvalidMessage", "message": message, "graphRequestId": None}


def _add(ctx: AppContext, user_id: str, group_id: str, request_id: str | None) -> str:
    """'added' or 'already_member'; raises whatever failed (the caller judges it)."""
    settings = ctx.settings()
    if not settings.allow_any_group and group_id not in settings.allowed_group_ids:
        # Any system may write to this queue: the worker enforces the same group policy as the doors.
        raise policy_refused([FieldError("groupId", f"group {group_id} is not in ALLOWED_GROUP_IDS (the setting that "
                                                    "governs which groups guests may be added to)")],
                             ["ALLOWED_GROUP_IDS"])
    graph = ctx.graph()
    budget = graph.budget(QUEUE_BUDGET_SECONDS)
    request_id = request_id if isinstance(request_id, str) else None
    # One cheap read before the write: the user's kind and addresses for the policy, and the replication-lag probe
    # (its 404 is judged lag, a wait like the write's own, without spending a directory write).
    refusal = check_member_policy(settings, graph.get_user(user_id, MEMBERSHIP_USER_FIELDS, budget))
    if refusal is not None:
        raise refusal
    try:  # one directory write per try: a wait (lag, throttling) puts the message back instead of sleeping here
        graph.add_member(group_id, user_id, budget, request_id)
        return "added"
    except GraphError as error:
        if missing_permission(error):  # Graph's generic 403: the group's kind may be the real reason
            explained = _group_kind(graph, group_id, budget, request_id, error)
            if explained is not None:
                raise explained from error
        if judge_membership(error, group_id).done:
            return "already_member"
        raise


def _group_kind(graph: GraphClient, group_id: str, budget: CallBudget, request_id: str | None,
                error: GraphError) -> Problem | None:
    """Read the group once (only when judging such a 403) and let the failure policy explain the refusal."""
    try:
        group = graph.request("GET", f"/groups/{quote(group_id, safe='')}", budget=budget, request_id=request_id,
                              query={"$select": "id,groupTypes,membershipRule,isAssignableToRole"}) or {}
    except GraphError:
        return None  # cannot tell: the 403 is judged as it is
    return group_kind_problem(error, group)


def membership_error(verdict: Verdict, failure: BaseException) -> dict[str, Any]:
    """The poison ``error`` of this queue: Graph's own status, code, message and request-id when Graph answered
    (plus the permission to grant), else the problem's code and text."""
    problem = verdict.problem
    assert problem is not None
    graph_error = problem.extensions.get("graphError")
    if graph_error:
        error = {**graph_error, "problem": problem.type}
        for name in ("requiredPermission", "tokenCache"):
            if name in problem.extensions:
                error[name] = problem.extensions[name]
        if "groupKind" in problem.extensions:  # Graph's own words would only say "Insufficient privileges"
            error["groupKind"] = problem.extensions["groupKind"]
            error["message"] = problem_text(problem)
        return error
    credential = problem.extensions.get("credentialError")
    if credential:
        return {"status": None, "code": credential["code"], "message": credential["message"], "graphRequestId": None,
                "problem": problem.type}
    codes = {"not-configured": "NotConfigured", "policy-refused": "PolicyRefused"}
    message = str(failure) if problem.kind == "not-configured" else problem_text(problem)
    if problem.kind == "policy-refused":
        message = "; ".join(item.message for item in problem.errors)
    if problem.kind == "internal-error":
        message = "The app failed unexpectedly; see the logs (event membership.bug) for this message."
    return {"status": 500 if problem.kind == "internal-error" else None, "code": codes.get(problem.kind, problem.kind),
            "message": message, "graphRequestId": None, "problem": problem.type}


def _outcome(status: str, fields: dict[str, Any], message: Any, error: dict[str, Any] | None,
             attempts: int) -> MembershipOutcome:
    return MembershipOutcome(status, fields.get("userId"), fields.get("groupId"), fields.get("requestId"),
                             fields.get("source"), message, error, attempts)


def poison_for(outcome: MembershipOutcome) -> str:
    message = outcome.message
    if isinstance(message, dict):  # the producer's message, without this worker's bookkeeping
        message = {name: value for name, value in message.items() if name not in (ATTEMPTS, FIRST_DELAY)}
    return poison_message(message, outcome.error or {}, outcome.attempts)


def _finish(ctx: AppContext, outcome: MembershipOutcome, started: float, hooks: bool = True) -> MembershipResult:
    level = logging.ERROR if outcome.status == "poisoned" else logging.INFO
    log_event("membership.done", level=level, log_pii=_log_pii(ctx), outcome=outcome.status, attempts=outcome.attempts,
              userId=outcome.user_id, groupId=outcome.group_id, requestId=outcome.request_id, error=outcome.error,
              graphRequestId=(outcome.error or {}).get("graphRequestId"),
              durationMs=_ms(ctx.timing.clock() - started))
    unrecorded = _run_hooks(ctx, outcome) if hooks else []
    if unrecorded:
        return MembershipResult(outcome, poison_for(_unrecorded(outcome, "; ".join(unrecorded))))
    return MembershipResult(outcome, poison_for(outcome) if outcome.status == "poisoned" else None)


def _run_hooks(ctx: AppContext, outcome: MembershipOutcome) -> list[str]:
    """Give the outcome to each hook. A hook that cannot record it for now raises RetryLater: before the last
    delivery that propagates (the host delivers the message again; the add then answers "already a member", so
    hooks must be idempotent), on the last one its reason is returned for the poison message."""
    unrecorded = []
    for hook in [record_status, *ctx.outcome_hooks()]:
        try:
            hook(outcome)
        except RetryLater as error:
            last = outcome.attempts >= ctx.max_dequeue_count()
            log_event("membership.hook_failed", level=logging.ERROR if last else logging.WARNING,
                      userId=outcome.user_id, groupId=outcome.group_id, attempts=outcome.attempts, retry=not last,
                      error=str(error))
            if not last:
                raise
            unrecorded.append(str(error))
        except Exception:  # any other failure of a hook must not undo or repeat the membership
            log_event("membership.hook_failed", level=logging.ERROR, log_pii=_log_pii(ctx), userId=outcome.user_id,
                      groupId=outcome.group_id, exc_info=True)
    return unrecorded


def record_status(outcome: MembershipOutcome) -> None:
    """The core's own outcome hook: the group's final state in the request's status record (shared.status)."""
    request_id = _status_id({"requestId": outcome.request_id})
    if request_id is None or not isinstance(outcome.group_id, str) or not re.fullmatch(GUID_PATTERN, outcome.group_id):
        return
    from .status import ADDED, ALREADY_MEMBER, FAILED, record_problem, store

    status = {"added": ADDED, "already_member": ALREADY_MEMBER}.get(outcome.status, FAILED)
    problem = record_problem(outcome.error or {}) if status == FAILED else None
    try:
        store().group(request_id, outcome.group_id, status, outcome.attempts, problem=problem)
    except Exception as failure:  # storage down: record it on the next delivery (the add is idempotent)
        verdict = judge(failure)
        raise RetryLater(f"the status record could not be written: "
                         f"{problem_text(verdict.problem) if verdict.problem else type(failure).__name__}") from failure


def _status_id(fields: dict[str, Any]) -> str | None:
    """The message's requestId when it can key a status record (any system may write this queue)."""
    value = fields.get("requestId")
    return value if isinstance(value, str) and re.fullmatch(REQUEST_ID_PATTERN, value) else None


def _unrecorded(outcome: MembershipOutcome, reason: str) -> MembershipOutcome:
    """The outcome as the poison message tells it when a hook could not record it even on the last delivery
    (requeueing the message records it: the add answers "already a member")."""
    if outcome.error is not None:
        return replace(outcome, error={**outcome.error, "outcomeNotRecorded": reason})
    error = {"status": None, "code": "OutcomeNotRecorded", "graphRequestId": None,
             "message": f"the membership is done ({outcome.status}), but its outcome could not be recorded: {reason}"}
    return replace(outcome, error=error)


def _ids(fields: dict[str, Any]) -> dict[str, Any]:
    return {"userId": fields.get("userId"), "groupId": fields.get("groupId"), "requestId": fields.get("requestId")}


def _log_pii(ctx: AppContext) -> bool:
    try:
        return ctx.settings().log_pii
    except SettingsError:
        return False


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
