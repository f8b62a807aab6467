"""One row of the list, from Pending to Invited/Added or Failed, exactly once.

A row is claimed before anything is done: ``ProcessedAt`` is written with ``If-Match`` on the row's eTag, so of
two workers that read the same version only one gets it (the other gets 412). The claim is a lease: a row still
Pending with a claim younger than :data:`LEASE` is being worked on (the caller retries later); an older one
belonged to a worker that died and may be taken over. Then the core flow runs (validation, policy, look-up,
invitation), the membership messages are queued, and the outcome is written with ``If-Match`` on the claim.
Rows that are not Pending (or empty), edited or deleted rows, never reach the flow again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from azure.storage.queue import QueueClient

from ..graph import GraphClient, GraphError
from ..logging_setup import log_event
from ..onboarding import onboard
from ..policy import check_policy
from ..problems import Problem
from ..requests_model import validate_invitation
from ..settings import Settings
from .lists import SiteLists
from .state import SharePointState

LEASE = dt.timedelta(minutes=10)
WRITE_ATTEMPTS = 3
FLOW_BUDGET_SECONDS = 60.0
_SEPARATORS = re.compile(r"[;,\s]+")


class RowBusy(Exception):
    """The row is claimed by a worker that may still be running, or Graph is throttling: try again later."""


@dataclass
class RowContext:
    settings: Settings
    graph: GraphClient
    lists: SiteLists
    site_id: str
    list_id: str
    state: SharePointState
    memberships: QueueClient


def handle_row(ctx: RowContext, item: dict[str, Any]) -> str:
    """'skipped' | 'invited' | 'added' | 'failed'; raises RowBusy."""
    if "deleted" in item:
        return "skipped"
    for _ in range(WRITE_ATTEMPTS):
        fields = item.get("fields") or {}
        if not _pending(fields):
            return "skipped"
        if _claimed(fields):
            raise RowBusy(item["id"])
        try:
            claimed = ctx.lists.update_fields(ctx.site_id, ctx.list_id, item["id"], {"ProcessedAt": _now()},
                                              item.get("eTag") or fields.get("@odata.etag"))
        except GraphError as error:
            if error.status != 412:
                raise
            item = ctx.lists.get_item(ctx.site_id, ctx.list_id, item["id"])  # changed since read: look again
            continue
        return _process(ctx, item["id"], fields, claimed.get("@odata.etag"))
    raise RowBusy(item["id"])


def _pending(fields: dict[str, Any]) -> bool:
    return (fields.get("Status") or "Pending") == "Pending"


def _claimed(fields: dict[str, Any]) -> bool:
    stamp = fields.get("ProcessedAt")
    if not stamp:
        return False
    try:
        when = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return False
    return dt.datetime.now(dt.UTC) - when < LEASE


def _process(ctx: RowContext, item_id: str, fields: dict[str, Any], etag: str | None) -> str:
    request_id = f"sharepoint-{ctx.list_id}-{item_id}"
    body = row_request(fields)
    request, errors = validate_invitation(body)
    if errors:
        return _finish(ctx, item_id, etag, "Failed", error="; ".join(f"{e.field}: {e.message}" for e in errors))
    refusal = check_policy(ctx.settings, request.email, request.group_ids)
    if refusal is not None:
        return _finish(ctx, item_id, etag, "Failed", error=_problem_text(refusal))
    try:
        outcome = onboard(request, request_id, ctx.settings, ctx.graph, ctx.graph.budget(FLOW_BUDGET_SECONDS))
    except Problem as problem:
        if problem.status in (429, 503):  # throttled or down: give the claim back and try again later
            _release(ctx, item_id, etag)
            raise RowBusy(item_id) from problem
        return _finish(ctx, item_id, etag, "Failed", error=_problem_text(problem))
    user_id = outcome.body["userId"]
    groups = list(request.group_ids)
    if groups:
        ctx.state.start_progress(ctx.list_id, item_id, groups)
        source = {"type": "sharepoint", "siteId": ctx.site_id, "listId": ctx.list_id, "itemId": item_id,
                  "groupIds": groups}
        for message in outcome.messages:
            ctx.memberships.send_message(json.dumps({**json.loads(message), "source": source}))
    status = "Invited" if groups else "Added"
    log_event("sharepoint.row", requestId=request_id, itemId=item_id, userId=user_id, outcome=status.lower(),
              invited=outcome.body["invited"], groups=len(groups))
    return _finish(ctx, item_id, etag, status, user_id=user_id)


def row_request(fields: dict[str, Any]) -> dict[str, Any]:
    """The invitation request a row stands for, in the HTTP API's shape (so the same validation applies)."""
    body: dict[str, Any] = {"email": str(fields.get("Email") or "").strip()}
    if fields.get("DisplayName"):
        body["displayName"] = str(fields["DisplayName"]).strip()
    groups = [g for g in _SEPARATORS.split(str(fields.get("GroupIds") or "")) if g]
    if groups:
        body["groupIds"] = groups
    if fields.get("Message"):
        body["message"] = str(fields["Message"])
    return body


def _problem_text(problem: Problem) -> str:
    details = "; ".join(f"{e.field}: {e.message}" for e in problem.errors)
    return f"{problem.title}: {details or problem.detail}"


def _finish(ctx: RowContext, item_id: str, etag: str | None, status: str, *, user_id: str | None = None,
            error: str | None = None) -> str:
    """Write the outcome. If the row changed since the claim (an owner's edit, or the last membership already
    marked it Added), write over the owner's edit, but never over a later outcome."""
    fields = {"Status": status, "InvitedUserId": user_id or "", "Error": error or "", "ProcessedAt": _now()}
    for _ in range(WRITE_ATTEMPTS):
        try:
            ctx.lists.update_fields(ctx.site_id, ctx.list_id, item_id, fields, etag)
            break
        except GraphError as failure:
            if failure.status != 412:
                raise
            current = ctx.lists.get_item(ctx.site_id, ctx.list_id, item_id)
            if not _pending(current.get("fields") or {}):
                break  # already past Invited (the memberships were quick): keep the later outcome
            etag = current.get("eTag")
    if error:
        log_event("sharepoint.row", level=logging.WARNING, itemId=item_id, outcome="failed", error=error)
    return status.lower()


def _release(ctx: RowContext, item_id: str, etag: str | None) -> None:
    with contextlib.suppress(GraphError):  # if this fails, the lease runs out by itself
        ctx.lists.update_fields(ctx.site_id, ctx.list_id, item_id, {"ProcessedAt": None}, etag)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
