"""The azure.functions adapter of the SharePoint doors (like shared/bindings.py for the core): the webhook, the
``sharepoint-notifications`` worker and the daily subscription renewal. Importing it also plugs the row
completion into the membership worker's outcome hooks."""

from __future__ import annotations

import logging

import azure.functions as func

from . import runtime
from .logging_setup import log_event
from .sharepoint.completion import on_membership_outcome
from .sharepoint.webhook import handle_webhook

runtime.add_outcome_hook(on_membership_outcome)


def notifications_http(req: func.HttpRequest, notifications: func.Out[list[str]]) -> func.HttpResponse:
    answer = handle_webhook(dict(req.params), req.get_body() or b"")
    if answer.messages:
        notifications.set(answer.messages)
    return func.HttpResponse(answer.body, status_code=answer.status, headers=answer.headers)


def changes_queue(msg: func.QueueMessage) -> None:
    """Any message means "the list changed": the worker reads the changes itself. ChangesPending propagates,
    so the host delivers the message again after host.json's visibilityTimeout."""
    from .sharepoint.changes import process_changes  # lazy: the storage SDKs are for this worker only (cold start)

    log_event("sharepoint.changes_start", dequeueCount=msg.dequeue_count)
    process_changes()


def renew_timer(timer: func.TimerRequest) -> None:
    from .sharepoint.subscriptions import ensure_subscription  # lazy, as above

    try:
        ensure_subscription()
    except Exception:  # logged for the operator; tomorrow's run tries again, and the subscription has >= 30 days
        log_event("sharepoint.subscription_failed", level=logging.ERROR, pastDue=timer.past_due, exc_info=True)
        raise
