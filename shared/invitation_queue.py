"""The ``guest-invitations`` queue: the HTTP body as a message (plain JSON or base64 of JSON, plus an optional
``requestId``), run through the same validation, policy and flow as ``POST /api/invitations``.

- Valid → invite if needed; the result is one ``group-memberships`` message per group.
- Otherwise the failure policy's verdict (shared.failures) decides: give up → poison at once,
  ``{"message", "error", "attempts", "failedAt"}`` (``error.errors`` names every bad field); retry →
  :class:`RetryLater`, so the host delivers the message again after host.json's visibilityTimeout; on the last
  delivery (dequeue count ≥ maxDequeueCount) → poison with the reason, since the host would move it with none.

Redelivery is harmless: the person is found the second time (no second invitation email), and repeated membership
messages end as "already a member", which the membership worker counts as done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from . import app_context
from .app_context import QUEUE_BUDGET_SECONDS, AppContext
from .failures import RetryLater, judge, verdict_for
from .intake import Refused, intake
from .logging_setup import log_event
from .problems import Problem
from .wire import decode_queue_body, poison_error, poison_message


@dataclass
class QueuedInvitationResult:
    status: str  # "invited" | "existing" | "poisoned"
    request_id: str
    memberships: list[str] = field(default_factory=list)  # group-memberships messages to write
    poison: str | None = None  # the guest-invitations-poison message to write
    user_id: str | None = None


def process_invitation_message(body: bytes | str, dequeue_count: int | None, message_id: str | None = None,
                               ctx: AppContext | None = None) -> QueuedInvitationResult:
    """Handle one delivery of a ``guest-invitations`` message; raises RetryLater for the host to try again."""
    ctx = ctx or app_context.current()
    attempts = dequeue_count or 1
    started = ctx.timing.clock()
    request_id = message_id or "unknown"
    message: Any = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        message = decode_queue_body(body).value
    except Problem as problem:
        return _failed(ctx, Refused(request_id, verdict_for(problem)), message, attempts, started)
    result = intake(message, request_id, ctx.settings, ctx.graph, QUEUE_BUDGET_SECONDS, ctx.utcnow)
    if isinstance(result, Refused):
        return _failed(ctx, result, message, attempts, started)
    status = "invited" if result.person.invited else "existing"
    memberships = result.membership_messages()
    try:
        from .status import record_admitted  # the table SDK is imported on the first accepted request

        record_admitted(ctx, result, "queue")
    except Exception as error:  # storage down: a retry verdict (the person is found again, no second email)
        return _failed(ctx, Refused(result.request_id, judge(error), result.request, result.log_pii), message,
                       attempts, started)
    log_event("invite_queue.done", log_pii=result.log_pii, requestId=result.request_id, email=result.request.email,
              userId=result.person.user_id, outcome=status, groups=len(memberships), attempts=attempts,
              durationMs=_ms(ctx.timing.clock() - started))
    return QueuedInvitationResult(status, result.request_id, memberships, None, result.person.user_id)


def _failed(ctx: AppContext, refused: Refused, message: Any, attempts: int, started: float) -> QueuedInvitationResult:
    verdict = refused.verdict.final(attempts, ctx.max_dequeue_count())
    error = poison_error(refused.problem, refused.request_id)
    if verdict.retry:
        log_event("invite_queue.retry", level=logging.WARNING, requestId=refused.request_id, attempts=attempts,
                  error=error, durationMs=_ms(ctx.timing.clock() - started))
        raise RetryLater(error["message"])
    log_event("invite_queue.poisoned", level=logging.ERROR, requestId=refused.request_id, attempts=attempts,
              status=error["status"], code=error["code"], graphRequestId=error.get("graphRequestId"))
    return QueuedInvitationResult("poisoned", refused.request_id, [], poison_message(message, error, attempts))


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
