"""One row of the list, from Pending to Invited/Added or Failed, exactly once.

A row is claimed before anything is done: ``ProcessedAt`` is written with ``If-Match`` on the row's eTag, so of
two workers that read the same version only one gets it (the other gets 412). The claim is a lease: a row still
Pending with a claim younger than :data:`LEASE` is being worked on (the caller retries later); an older one
belonged to a worker that died and may be taken over. Then the intake pipeline runs (shared.intake: validation,
policy, look-up, invitation), the membership messages are queued, and the outcome is written with ``If-Match`` on
the claim. A refusal the failure policy says is worth retrying gives the claim back; any other marks the row Failed.
Rows that are not Pending (or empty), edited or deleted rows, never reach the flow again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from azure.storage.queue import QueueClient

from .. import app_context
from ..graph import GraphClient, GraphError
from ..intake import Refused, intake
from ..logging_setup import log_event
from ..problems import problem_text
from ..settings import Settings
from ..status import record_admitted
from ..wire import parse_utc, utc_now
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
            claimed = ctx.lists.update_fields(ctx.site_id, ctx.list_id, item["id"], {"ProcessedAt": utc_now()},
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
    when = parse_utc(fields.get("ProcessedAt") or None)
    return when is not None and dt.datetime.now(dt.UTC) - when < LEASE


def _process(ctx: RowContext, item_id: str, fields: dict[str, Any], etag: str | None) -> str:
    request_id = f"sharepoint-{ctx.list_id}-{item_id}"
    result = intake(row_request(fields), request_id, lambda: ctx.settings, lambda: ctx.graph, FLOW_BUDGET_SECONDS,
                    app_context.current().utcnow)  # the same clock as every door (access periods, invitedAt)
    if isinstance(result, Refused):
        if result.verdict.retry:  # worth another try: give the claim back; the notification is delivered again
            _release(ctx, item_id, etag)
            raise RowBusy(item_id) from result.problem
        return _finish(ctx, item_id, etag, "Failed", error=problem_text(result.problem))
    user_id = result.person.user_id
    groups = list(result.request.group_ids)
    record_admitted(app_context.current(), result, "sharepoint")  # the status record (shared.status), before messages
    if groups:
        ctx.state.start_progress(ctx.list_id, item_id, groups)
        source = {"type": "sharepoint", "siteId": ctx.site_id, "listId": ctx.list_id, "itemId": item_id,
                  "groupIds": groups}
        for message in result.membership_messages(source):
            ctx.memberships.send_message(message)
    status = "Invited" if groups else "Added"
    log_event("sharepoint.row", requestId=request_id, itemId=item_id, userId=user_id, outcome=status.lower(),
              invited=result.person.invited, groups=len(groups))
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
    if fields.get("AccessUntil"):  # Graph gives a dateTime column as ISO 8601 UTC (2027-03-31T17:00:00Z)
        body["accessUntil"] = str(fields["AccessUntil"])
    return body


def _finish(ctx: RowContext, item_id: str, etag: str | None, status: str, *, user_id: str | None = None,
            error: str | None = None) -> str:
    """Write the outcome. If the row changed since the claim (an owner's edit, or the last membership already
    marked it Added), write over the owner's edit, but never over a later outcome."""
    fields = {"Status": status, "InvitedUserId": user_id or "", "Error": error or "", "ProcessedAt": utc_now()}
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


