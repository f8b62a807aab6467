"""The azure.functions adapter of the core's doors (with shared/sharepoint_blueprint.py and shared/health.py, the
only modules that import it): trigger objects in, HttpResponse / Out values out. Each function is a door: it
translates, the core decides."""

from __future__ import annotations

import typing

import azure.functions as func

from .http_api import handle_invitation
from .invitation_queue import process_invitation_message
from .membership import process_membership
from .openapi import served_openapi_json
from .status_api import handle_status, sweep_status


def invite_http(req: func.HttpRequest,
                memberships: func.Out[typing.List[str]]) -> func.HttpResponse:  # noqa: UP006 (as function_app.py)
    headers = {name.lower(): value for name, value in req.headers.items()}
    answer = handle_invitation(headers, req.get_body() or b"", url=req.url)
    if answer.messages:
        memberships.set(answer.messages)
    return func.HttpResponse(answer.body, status_code=answer.status, headers=answer.headers)


def invitation_status(req: func.HttpRequest, *, signed: bool) -> func.HttpResponse:
    """GET /api/invitations/{requestId} (function key) or its signed link /status (anonymous)."""
    headers = {name.lower(): value for name, value in req.headers.items()}
    answer = handle_status(req.route_params.get("requestId") or "", req.url, dict(req.params), headers,
                           signed=signed)
    return func.HttpResponse(answer.body, status_code=answer.status, headers=answer.headers)


def sweep_invitation_status() -> None:
    """The daily timer: delete expired status records (shared.status.RETENTION_DAYS)."""
    sweep_status()


def add_membership(msg: func.QueueMessage, poison: func.Out[str]) -> None:
    """Raises RetryLater for a transient failure: the host then delivers the message again."""
    result = process_membership(msg.get_body(), msg.dequeue_count)
    if result.poison is not None:
        poison.set(result.poison)


def invite_from_queue(msg: func.QueueMessage, memberships: func.Out[typing.List[str]],  # noqa: UP006 (as above)
                      poison: func.Out[str]) -> None:
    """The guest-invitations door: same flow as HTTP. Raises RetryLater for a transient failure (host redelivers)."""
    result = process_invitation_message(msg.get_body(), msg.dequeue_count, msg.id)
    if result.memberships:
        memberships.set(result.memberships)
    if result.poison is not None:
        poison.set(result.poison)


def openapi_http(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/openapi.json: the connector definition, with the host the caller used."""
    return func.HttpResponse(served_openapi_json(req.headers.get("host")), status_code=200,
                             headers={"Content-Type": "application/json", "Cache-Control": "public, max-age=300"})
