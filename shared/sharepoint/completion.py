"""The end of a row: the membership worker's outcome hook marks the row ``Added`` when its last group is joined,
or ``Failed`` with the reason when a membership failed for good (group-memberships-poison has the details).

If the outcome cannot be recorded now (Graph throttled or down, the table unreachable, the row kept changing), the
hook raises :class:`shared.membership.RetryLater`: the membership message is delivered again, the add answers
"already a member", and this hook runs again (everything it does is idempotent). On the last delivery the
membership worker poisons the message with the reason instead; requeueing it records the outcome.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import app_context
from ..failures import RetryLater
from ..graph import GraphError
from ..logging_setup import log_event
from .lists import SiteLists

WRITE_ATTEMPTS = 3


def on_membership_outcome(outcome: Any) -> None:
    """A :class:`shared.membership.MembershipOutcome`; only those whose ``source`` is a SharePoint row count."""
    source = outcome.source
    if not isinstance(source, dict) or source.get("type") != "sharepoint":
        return
    try:
        _record(outcome, source)
    except RetryLater:
        raise
    except Exception as error:  # Graph, the table, the credential, settings: all worth another delivery
        raise RetryLater(f"could not record the outcome on SharePoint item {source.get('itemId')}: "
                         f"{type(error).__name__}: {_text(error)}") from error


def _record(outcome: Any, source: dict[str, Any]) -> None:
    # Imported here: the storage SDKs cost ~60 ms of every cold start, and only SharePoint rows need them.
    from . import storage
    from .state import TABLE, SharePointState

    list_id, item_id, site_id = str(source.get("listId")), str(source.get("itemId")), str(source.get("siteId"))
    reason = None
    if outcome.status == "poisoned":
        error = outcome.error or {}
        reason = f"Could not add to group {outcome.group_id}: {error.get('code')}: {error.get('message')}"
    state = SharePointState(storage.table_client(TABLE))
    progress = state.record_membership(list_id, item_id, outcome.group_id or "", reason)
    if progress is None or not (reason or progress.complete):
        return
    if progress.failed:
        fields = {"Status": "Failed", "Error": "; ".join(progress.failed.values())}
    else:
        fields = {"Status": "Added", "Error": ""}
    _write(SiteLists(app_context.current().graph()), site_id, list_id, item_id, fields)


def _write(lists: SiteLists, site_id: str, list_id: str, item_id: str, fields: dict[str, Any]) -> None:
    for _ in range(WRITE_ATTEMPTS):
        try:
            item = lists.get_item(site_id, list_id, item_id)
        except GraphError as error:
            if error.status == 404:
                return  # the row was deleted: nothing left to mark
            raise
        if (item.get("fields") or {}).get("Status") == "Failed" and fields["Status"] == "Added":
            return  # an earlier group failed: the row stays Failed
        try:
            lists.update_fields(site_id, list_id, item_id, fields, item.get("eTag"))
        except GraphError as error:
            if error.status == 412:
                continue
            if error.status == 404:
                return  # the row was deleted meanwhile
            raise
        log_event("sharepoint.row", itemId=item_id, outcome=fields["Status"].lower(),
                  level=logging.WARNING if fields["Status"] == "Failed" else logging.INFO)
        return
    raise RetryLater(f"SharePoint item {item_id} kept changing while its outcome was written")


def _text(error: Exception) -> str:
    # GraphError's text is Graph's status, code and message; storage errors can be long multi-line texts.
    return (str(error).splitlines() or [""])[0][:300]
