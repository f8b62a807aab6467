"""The guest lifecycle's triggers as one ``func.Blueprint`` (docs/lifecycle.md): the hourly expiry (ends due
grants, sends reminders, offboards as configured) and ``DELETE /api/invitations/{requestId}`` (revoke now)."""

from __future__ import annotations

import logging

import azure.functions as func

from .logging_setup import log_event

blueprint = func.Blueprint()


@blueprint.function_name("expire_grants")
@blueprint.timer_trigger(arg_name="timer", schedule="0 5 * * * *")  # hourly, at :05 UTC
def expire_grants(timer: func.TimerRequest) -> None:
    from . import app_context
    from .grants import grant_store
    from .lifecycle import run_expiry  # lazy: the storage SDKs are for this function only

    try:
        run_expiry(app_context.current(), grant_store())
    except Exception:  # logged for the operator; the next run tries again (grants left active or removing)
        log_event("grants.run_failed", level=logging.ERROR, pastDue=timer.past_due, exc_info=True)
        raise


@blueprint.function_name("revoke_invitation")
@blueprint.route(route="invitations/{requestId}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
def revoke_invitation(req: func.HttpRequest) -> func.HttpResponse:
    from .revoke_api import handle_revoke

    answer = handle_revoke(req.route_params.get("requestId") or "")
    return func.HttpResponse(answer.body, status_code=answer.status, headers=answer.headers)
