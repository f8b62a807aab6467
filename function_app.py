"""Azure Functions entry point (Python v2 model): triggers and bindings only. All logic is in ``shared``."""

import typing

import azure.functions as func

from shared import app_context, bindings, grant_events, health, status
from shared.lifecycle_blueprint import blueprint as lifecycle
from shared.sharepoint.access_status import on_grant_event
from shared.sharepoint.completion import on_membership_outcome
from shared.sharepoint_blueprint import blueprint as sharepoint

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

STORAGE = "AzureWebJobsStorage"
# Output lists are typing.List[str] (noqa UP006): the Functions worker refuses the builtin generic list[str].


@app.function_name("invite")
@app.route(route="invitations", methods=["POST"])
@app.queue_output(arg_name="memberships", queue_name="group-memberships", connection=STORAGE)
def invite(req: func.HttpRequest, memberships: func.Out[typing.List[str]]) -> func.HttpResponse:
    return bindings.invite_http(req, memberships)


# An invitation's status record (docs/api.md "Status"): with the function key, or through the signed status link that
# a 202 answer's Location carries (anonymous route: the link itself is the credential, shared/status_links.py).
@app.function_name("invitation_status")
@app.route(route="invitations/{requestId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def invitation_status(req: func.HttpRequest) -> func.HttpResponse:
    return bindings.invitation_status(req, signed=False)


@app.function_name("invitation_status_link")
@app.route(route="invitations/{requestId}/status", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def invitation_status_link(req: func.HttpRequest) -> func.HttpResponse:
    return bindings.invitation_status(req, signed=True)


# Daily at 03:17 UTC: delete status records past their retention (shared/status.py RETENTION_DAYS).
@app.function_name("sweep_invitation_status")
@app.timer_trigger(arg_name="timer", schedule="0 17 3 * * *", run_on_startup=False)
def sweep_invitation_status(timer: func.TimerRequest) -> None:
    bindings.sweep_invitation_status()


@app.function_name("add_membership")
@app.queue_trigger(arg_name="msg", queue_name="group-memberships", connection=STORAGE)
@app.queue_output(arg_name="poison", queue_name="group-memberships-poison", connection=STORAGE)
def add_membership(msg: func.QueueMessage, poison: func.Out[str]) -> None:
    bindings.add_membership(msg, poison)


@app.function_name("invite_from_queue")
@app.queue_trigger(arg_name="msg", queue_name="guest-invitations", connection=STORAGE)
@app.queue_output(arg_name="memberships", queue_name="group-memberships", connection=STORAGE)
@app.queue_output(arg_name="poison", queue_name="guest-invitations-poison", connection=STORAGE)
def invite_from_queue(msg: func.QueueMessage, memberships: func.Out[typing.List[str]],
                      poison: func.Out[str]) -> None:
    bindings.invite_from_queue(msg, memberships, poison)


# Anonymous on purpose: connector "Import from URL" fetches it without a key, and it holds no secret (only shapes).
@app.function_name("openapi")
@app.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return bindings.openapi_http(req)


# The doctor's report (docs/doctor.md): 200 when everything needed is in place, else 503; cached 30 s.
@app.function_name("health")
@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def health_check(req: func.HttpRequest) -> func.HttpResponse:
    return health.health_http(req)


# ---- SharePoint list webhooks (docs/sharepoint.md): its triggers, and the hook that marks a row done ----------
app.register_functions(sharepoint)
app_context.current().add_outcome_hook(on_membership_outcome)
grant_events.add_status_recorder(on_grant_event)  # the row's "Access status" follows its grants


# ---- guest lifecycle (docs/lifecycle.md): the hourly expiry and DELETE /api/invitations/{requestId} --------------
app.register_functions(lifecycle)
grant_events.add_status_recorder(status.record_grant_event)  # renewals and ends reach the request's status record
