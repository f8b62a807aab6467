"""The SharePoint feature's triggers as one ``func.Blueprint`` (docs/sharepoint.md): the list webhook, the
``sharepoint-notifications`` worker and the daily subscription renewal. function_app.py registers it, and the
feature's membership outcome hook (shared.sharepoint.completion) beside it; nothing registers on import."""

from __future__ import annotations

import logging
import typing

import azure.functions as func

from .logging_setup import log_event
from .sharepoint.webhook import handle_webhook

STORAGE = "AzureWebJobsStorage"

blueprint = func.Blueprint()


# The Functions worker refuses the builtin generic list[str] in an Out annotation: typing.List is on purpose.
@blueprint.function_name("sharepoint_notifications")
@blueprint.route(route="sharepoint/notifications", methods=["POST"])
@blueprint.queue_output(arg_name="notifications", queue_name="sharepoint-notifications", connection=STORAGE)
def sharepoint_notifications(req: func.HttpRequest,
                             notifications: func.Out[typing.List[str]]) -> func.HttpResponse:  # noqa: UP006
    answer = handle_webhook(dict(req.params), req.get_body() or b"")
    if answer.messages:
        notifications.set(answer.messages)
    return func.HttpResponse(answer.body, status_code=answer.status, headers=answer.headers)


@blueprint.function_name("sharepoint_changes")
@blueprint.queue_trigger(arg_name="msg", queue_name="sharepoint-notifications", connection=STORAGE)
@blueprint.queue_output(arg_name="poison", queue_name="sharepoint-notifications-poison", connection=STORAGE)
def sharepoint_changes(msg: func.QueueMessage, poison: func.Out[str]) -> None:
    """Raises RetryLater (the host delivers the message again); the last delivery is poisoned with the reason."""
    from .sharepoint.changes import process_notification  # lazy: the storage SDKs are for this worker only

    result = process_notification(msg.get_body(), msg.dequeue_count, msg.id)
    if result.poison is not None:
        poison.set(result.poison)


@blueprint.function_name("sharepoint_subscription_renewal")
@blueprint.timer_trigger(arg_name="timer", schedule="0 30 3 * * *")  # daily, 03:30 UTC
def sharepoint_subscription_renewal(timer: func.TimerRequest) -> None:
    from .sharepoint.subscriptions import ensure_subscription  # lazy, as above

    try:
        ensure_subscription()
    except Exception:  # logged for the operator; tomorrow's run tries again, and the subscription has >= 30 days
        log_event("sharepoint.subscription_failed", level=logging.ERROR, pastDue=timer.past_due, exc_info=True)
        raise
