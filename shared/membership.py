"""Add one user to one group from a ``group-memberships`` message, and decide: done, try again, or poison.

- 204, or "already a member" (400 Request_BadRequest "…already exist…", MGDC api/group-post-members.md) → done.
- Transient (429/5xx/no answer after the in-invocation retries; the user's 404 and the 400 texts of replication
  lag; a settings or credential problem an operator can fix) → :class:`RetryLater`, so the host delivers the
  message again after host.json's visibilityTimeout; on the last delivery (dequeue count ≥ maxDequeueCount)
  → poison with the reason instead, because the host would poison it with none.
- Permanent (403, the group's 404, invalid ids, an unreadable message, a group outside ALLOWED_GROUP_IDS) → poison
  at once, with the reason.
- A final outcome goes to the runtime's outcome hooks; one that cannot record it yet raises RetryLater, which
  redelivers the message as above (the add then answers "already a member") or, on the last delivery, poisons it
  with the hook's reason.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import re
from dataclasses import dataclass, replace
from typing import Any

from . import runtime
from .credentials import CredentialError
from .graph import GraphError
from .logging_setup import log_event
from .requests_model import GUID_PATTERN
from .settings import SettingsError

# Waits between in-invocation tries while a new user is not yet visible to writes: covers the common lag of
# seconds without a redelivery; host.json's redeliveries (every 2 minutes) cover the minutes after that.
LAG_DELAYS = (2.0, 4.0, 8.0)
REQUIRED_PERMISSION = "GroupMember.ReadWrite.All"
# Answers seen while a new object replicates (cloud-facts: group-post-members, eventual consistency guidance).
_LAG_TEXTS = re.compile(r"does not exist|don't exist|not a valid reference update", re.IGNORECASE)
_LAG_CODES = {"Request_ResourceNotFound", "Directory_ObjectNotFound"}


class RetryLater(Exception):
    """A transient failure: let the host deliver the message again after its visibility timeout."""


@dataclass
class MembershipOutcome:
    """A final outcome, given to the runtime's outcome hooks (``source`` is the producer's opaque object)."""

    status: str  # "added" | "already_member" | "poisoned"
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


class _Failure(Exception):
    def __init__(self, error: dict[str, Any], *, transient: bool) -> None:
        super().__init__(error.get("message"))
        self.error = error
        self.transient = transient


def process_membership(body: bytes | str, dequeue_count: int | None) -> MembershipResult:
    """Handle one delivery. Returns the outcome (and a poison message when it failed for good), or raises
    RetryLater for the host to try again."""
    attempts = dequeue_count or 1
    started = runtime.timing().clock()
    message, fields, problem = decode_message(body)
    if problem is not None:
        return _finish(_outcome("poisoned", fields, message, problem, attempts), started)
    try:
        status = _add(fields["userId"], fields["groupId"], fields.get("requestId"))
    except _Failure as failure:
        if failure.transient and attempts < runtime.max_dequeue_count():
            log_event("membership.retry", level=logging.WARNING, log_pii=_log_pii(), attempts=attempts,
                      **_ids(fields), error=failure.error, durationMs=_ms(runtime.timing().clock() - started))
            raise RetryLater(failure.error.get("message")) from failure
        return _finish(_outcome("poisoned", fields, message, failure.error, attempts), started)
    except Exception:  # a bug: the host retries; the last delivery is poisoned with a reason, never silently
        log_event("membership.bug", level=logging.ERROR, log_pii=_log_pii(), attempts=attempts, **_ids(fields),
                  exc_info=True)
        if attempts < runtime.max_dequeue_count():
            raise
        error = {"status": 500, "code": "internal-error", "graphRequestId": None,
                 "message": "The app failed unexpectedly; see the logs (event membership.bug) for this message."}
        return _finish(_outcome("poisoned", fields, message, error, attempts), started)
    return _finish(_outcome(status, fields, message, None, attempts), started)


def decode_message(body: bytes | str) -> tuple[Any, dict[str, Any], dict[str, Any] | None]:
    """(the message as parsed, or its text; its fields; a problem or None). Plain JSON or base64 of JSON: host.json
    says messageEncoding none, but producers that base64-encode (older SDKs, the portal) must work too."""
    raw = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    parsed = _json_object(raw)
    if parsed is None and raw.strip():
        try:
            parsed = _json_object(base64.b64decode(raw.strip(), validate=True).decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            parsed = None
    if parsed is None:
        return raw, {}, _invalid("the message is not a JSON object (plain or base64)")
    wrong = [name for name in ("userId", "groupId")
             if not isinstance(parsed.get(name), str) or not re.fullmatch(GUID_PATTERN, parsed[name])]
    if wrong:
        return parsed, parsed, _invalid(f"{' and '.join(wrong)} must be {'GUIDs' if len(wrong) > 1 else 'a GUID'}")
    return parsed, {**parsed, "userId": parsed["userId"].lower(), "groupId": parsed["groupId"].lower()}, None


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # deeply nested JSON exhausts the parser's stack: still not a message
        return None
    return value if isinstance(value, dict) else None


def _invalid(message: str) -> dict[str, Any]:
    return {"status": None, "code": "InvalidMessage", "message": message, "graphRequestId": None}


def _add(user_id: str, group_id: str, request_id: str | None) -> str:
    """'added' or 'already_member'; raises _Failure."""
    try:
        graph = runtime.graph()
    except SettingsError as error:
        log_event("settings.invalid", level=logging.ERROR, settings=error.problems)
        raise _Failure({"status": None, "code": "NotConfigured", "message": str(error), "graphRequestId": None},
                       transient=True) from error
    except CredentialError as error:
        raise _credential_failure(error) from error
    settings = runtime.settings()
    if not settings.allow_any_group and group_id not in settings.allowed_group_ids:
        # Any system may write to this queue: the worker enforces the same group policy as the doors.
        raise _Failure({"status": None, "code": "PolicyRefused", "graphRequestId": None,
                        "message": f"group {group_id} is not in ALLOWED_GROUP_IDS (the setting that governs which "
                                   f"groups guests may be added to)"}, transient=False)
    budget = graph.budget(runtime.QUEUE_BUDGET_SECONDS)
    for attempt in range(1, len(LAG_DELAYS) + 2):
        try:
            graph.add_member(group_id, user_id, budget, request_id if isinstance(request_id, str) else None)
            return "added"
        except CredentialError as error:
            raise _credential_failure(error) from error
        except GraphError as error:
            verdict = classify(error, group_id)
            if verdict == "already_member":
                return verdict
            if verdict != "lag" or attempt > len(LAG_DELAYS):
                raise _Failure(_error_dict(error), transient=verdict in ("transient", "lag")) from error
            delay = LAG_DELAYS[attempt - 1]
            if delay > budget.remaining():
                raise _Failure(_error_dict(error), transient=True) from error
            graph.sleep(delay)
    raise AssertionError("unreachable")


def classify(error: GraphError, group_id: str) -> str:
    """'already_member' | 'lag' (the user is not visible yet) | 'transient' | 'permanent'."""
    if error.status == 400 and error.code == "Request_BadRequest" and "already exist" in error.message:
        return "already_member"
    if error.status == 404 and group_id in error.message.lower():
        return "permanent"  # the group itself does not exist
    if error.status == 404 or (error.status == 400 and (error.code in _LAG_CODES or _LAG_TEXTS.search(error.message))):
        return "lag"
    if error.transient or error.status == 401:  # 401 after a token refresh: the credential, fixable by an operator
        return "transient"
    return "permanent"


def _error_dict(error: GraphError) -> dict[str, Any]:
    result = error.to_dict()
    if error.status == 403 and "privileges" in error.message.lower():
        result["requiredPermission"] = REQUIRED_PERMISSION
    return result


def _credential_failure(error: CredentialError) -> _Failure:
    # Even a refused credential is retried until the last delivery: an operator can fix it meanwhile.
    return _Failure({"status": None, "code": error.code, "message": error.message, "graphRequestId": None},
                    transient=True)


def _outcome(status: str, fields: dict[str, Any], message: Any, error: dict[str, Any] | None,
             attempts: int) -> MembershipOutcome:
    return MembershipOutcome(status, fields.get("userId"), fields.get("groupId"), fields.get("requestId"),
                             fields.get("source"), message, error, attempts)


def poison_message(outcome: MembershipOutcome) -> str:
    return json.dumps({"message": outcome.message, "error": outcome.error, "attempts": outcome.attempts,
                       "failedAt": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")})


def _finish(outcome: MembershipOutcome, started: float) -> MembershipResult:
    level = logging.ERROR if outcome.status == "poisoned" else logging.INFO
    log_event("membership.done", level=level, log_pii=_log_pii(), outcome=outcome.status, attempts=outcome.attempts,
              userId=outcome.user_id, groupId=outcome.group_id, requestId=outcome.request_id, error=outcome.error,
              graphRequestId=(outcome.error or {}).get("graphRequestId"),
              durationMs=_ms(runtime.timing().clock() - started))
    unrecorded = _run_hooks(outcome)
    if unrecorded:
        return MembershipResult(outcome, poison_message(_unrecorded(outcome, "; ".join(unrecorded))))
    return MembershipResult(outcome, poison_message(outcome) if outcome.status == "poisoned" else None)


def _run_hooks(outcome: MembershipOutcome) -> list[str]:
    """Give the outcome to each hook. A hook that cannot record it for now raises RetryLater: before the last
    delivery that propagates (the host delivers the message again; the add then answers "already a member", so
    hooks must be idempotent), on the last one its reason is returned for the poison message."""
    unrecorded = []
    for hook in runtime.outcome_hooks():
        try:
            hook(outcome)
        except RetryLater as error:
            last = outcome.attempts >= runtime.max_dequeue_count()
            log_event("membership.hook_failed", level=logging.ERROR if last else logging.WARNING,
                      userId=outcome.user_id, groupId=outcome.group_id, attempts=outcome.attempts, retry=not last,
                      error=str(error))
            if not last:
                raise
            unrecorded.append(str(error))
        except Exception:  # any other failure of a hook must not undo or repeat the membership
            log_event("membership.hook_failed", level=logging.ERROR, log_pii=_log_pii(), userId=outcome.user_id,
                      groupId=outcome.group_id, exc_info=True)
    return unrecorded


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


def _log_pii() -> bool:
    try:
        return runtime.settings().log_pii
    except SettingsError:
        return False


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
