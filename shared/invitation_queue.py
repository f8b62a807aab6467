"""The ``guest-invitations`` queue: the HTTP body as a message (plain JSON or base64 of JSON, plus an optional
``requestId``), run through the same validation, policy and flow as ``POST /api/invitations``.

- Valid → invite if needed; the result is one ``group-memberships`` message per group.
- Invalid, refused by policy, or refused by Graph (the person, or the app: a missing permission) → poison at once,
  ``{"message", "error", "attempts", "failedAt"}``; ``error.errors`` names every bad field.
- Transient (Graph throttling or outage past the budget, the identity platform, settings an operator can fix)
  → :class:`RetryLater`, so the host delivers the message again after host.json's visibilityTimeout; on the last
  delivery (dequeue count ≥ maxDequeueCount) → poison with the reason, since the host would move it with none.

Redelivery is harmless: the person is found the second time (no second invitation email), and repeated membership
messages end as "already a member", which the membership worker counts as done.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from . import runtime
from .credentials import CredentialError
from .http_api import parse_json
from .logging_setup import log_event
from .membership import RetryLater
from .onboarding import onboard, problem_from_credential
from .policy import check_policy
from .problems import Problem, invalid_request, not_configured
from .requests_model import validate_invitation
from .settings import SettingsError

# Problems worth another delivery: Graph or the identity platform throttling or down, a credential or a setting an
# operator can fix meanwhile (the membership worker treats the same cases as transient).
TRANSIENT_KINDS = frozenset({"graph-throttled", "graph-unavailable", "identity-unavailable", "credential-refused",
                             "not-configured"})


@dataclass
class QueuedInvitationResult:
    status: str  # "invited" | "existing" | "poisoned"
    request_id: str
    memberships: list[str] = field(default_factory=list)  # group-memberships messages to write
    poison: str | None = None  # the guest-invitations-poison message to write
    user_id: str | None = None


def process_invitation_message(body: bytes | str, dequeue_count: int | None,
                               message_id: str | None = None) -> QueuedInvitationResult:
    """Handle one delivery of a ``guest-invitations`` message; raises RetryLater for the host to try again."""
    attempts = dequeue_count or 1
    started = runtime.timing().clock()
    request_id = message_id or "unknown"
    message: Any = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        message = decode_invitation(body)
        request, errors = validate_invitation(message)
        if errors:
            raise invalid_request(errors)
        request_id = request.request_id or request_id
        settings = runtime.settings()
        refusal = check_policy(settings, request.email, request.group_ids, request.cc_recipients)
        if refusal:
            raise refusal
        graph = runtime.graph()
        outcome = onboard(request, request_id, settings, graph, graph.budget(runtime.QUEUE_BUDGET_SECONDS))
    except SettingsError as error:
        return _failed(not_configured(error.problems), message, request_id, attempts, started)
    except CredentialError as error:  # building the token provider (MSAL reads the authority's metadata)
        return _failed(problem_from_credential(error), message, request_id, attempts, started)
    except Problem as problem:
        return _failed(problem, message, request_id, attempts, started)
    except Exception:  # a bug: the host retries; the last delivery is poisoned with a reason, never silently
        log_event("invite_queue.bug", level=logging.ERROR, requestId=request_id, attempts=attempts, exc_info=True)
        if attempts < runtime.max_dequeue_count():
            raise
        error = {"status": 500, "code": "internal-error", "message": "The app failed unexpectedly; see the logs "
                 "under this requestId.", "graphRequestId": None, "requestId": request_id}
        return _poisoned(message, error, request_id, attempts)
    status = "invited" if outcome.status == 201 else "existing"
    log_event("invite_queue.done", log_pii=settings.log_pii, requestId=request_id, email=request.email,
              userId=outcome.body["userId"], outcome=status, groups=len(outcome.messages), attempts=attempts,
              durationMs=_ms(runtime.timing().clock() - started))
    return QueuedInvitationResult(status, request_id, outcome.messages, None, outcome.body["userId"])


def decode_invitation(body: bytes | str) -> Any:
    """The parsed message: plain JSON first, else base64 of JSON (host.json: messageEncoding none; producers that
    base64-encode must work too). Strict JSON as for HTTP: raises the same 400 problem."""
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    try:
        return parse_json(raw)
    except Problem as not_json:
        try:
            decoded = base64.b64decode(raw.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise not_json from None
        if not decoded:
            raise not_json from None
        return parse_json(decoded)


def error_from_problem(problem: Problem, request_id: str) -> dict[str, Any]:
    """The poison ``error``: Graph's own status, code, message and request-id when Graph answered, else the
    problem's; plus every bad field and the setting or permission to fix."""
    graph_error = problem.extensions.get("graphError") or {}
    error: dict[str, Any] = {
        "status": graph_error.get("status") or problem.status,
        "code": graph_error.get("code") or problem.kind,
        "message": _message(problem, graph_error),
        "graphRequestId": graph_error.get("graphRequestId"),
        "problem": problem.type,
        "requestId": request_id,
    }
    if problem.errors:
        error["errors"] = [item.to_dict() for item in problem.errors]
    for name in ("requiredPermission", "settings", "credentialError"):
        if name in problem.extensions:
            error[name] = problem.extensions[name]
    return error


def _message(problem: Problem, graph_error: dict[str, Any]) -> str:
    if problem.errors:
        return "; ".join(f"{item.field}: {item.message}" for item in problem.errors)
    if graph_error.get("message") and problem.kind != "invitation-refused":  # 422's detail already quotes Graph
        return f"{problem.detail} Graph: {graph_error['message']}"
    return problem.detail


def _failed(problem: Problem, message: Any, request_id: str, attempts: int, started: float) -> QueuedInvitationResult:
    error = error_from_problem(problem, request_id)
    if problem.kind in TRANSIENT_KINDS and attempts < runtime.max_dequeue_count():
        log_event("invite_queue.retry", level=logging.WARNING, requestId=request_id, attempts=attempts, error=error,
                  durationMs=_ms(runtime.timing().clock() - started))
        raise RetryLater(error["message"])
    return _poisoned(message, error, request_id, attempts)


def _poisoned(message: Any, error: dict[str, Any], request_id: str, attempts: int) -> QueuedInvitationResult:
    log_event("invite_queue.poisoned", level=logging.ERROR, requestId=request_id, attempts=attempts,
              status=error["status"], code=error["code"], graphRequestId=error.get("graphRequestId"))
    poison = json.dumps({"message": message, "error": error, "attempts": attempts,
                         "failedAt": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")},
                        ensure_ascii=False)
    return QueuedInvitationResult("poisoned", request_id, [], poison)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
