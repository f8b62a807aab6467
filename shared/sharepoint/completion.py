"""The end of a row: the membership worker's outcome hook marks the row ``Added`` when its last group is joined,
or ``Failed`` with the reason when a membership failed for good (group-memberships-poison has the details).

If the outcome cannot be recorded now (Graph throttled or down, the table unreachable, the row kept changing), the
hook raises :class:`shared.membership.RetryLater`: the membership message is delivered again, the add answers
"already a member", and this hook runs again (everything it does is idempotent). On the last delivery the
membership worker poisons the message with the reason instead; requeueing it records the outcome.

Any system that can write the queue can write a ``source``: the hook acts only on the configured list
(SHAREPOINT_SITE_URL's site, SHAREPOINT_LIST_ID) and an item id of ASCII digits (what SharePoint gives list items);
any other ``source`` is logged (bounded) and ignored, and never reaches a Graph URL or the state table.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from .. import app_context
from ..failures import RetryLater
from ..graph import GraphError
from ..logging_setup import log_event
from . import config
from .lists import SiteLists

WRITE_ATTEMPTS = 3
# SharePoint list item ids are integers; 18 digits is far beyond any list and keeps the id out of float territory.
_ITEM_ID = re.compile(r"[0-9]{1,18}")
_SHOWN = 80  # characters of an untrusted source value a log record shows


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

    target = trusted_target(source)
    if target is None:
        return
    site_id, list_id, item_id = target
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


def trusted_target(source: dict[str, Any]) -> tuple[str, str, str] | None:
    """(site id, list id, item id) when ``source`` names an item of the configured list, else None (logged).
    The configured site's id comes from Graph (resolved once per process), never from the message."""
    item_id, list_id, site_id = source.get("itemId"), source.get("listId"), source.get("siteId")
    why = None
    if not isinstance(item_id, str) or not _ITEM_ID.fullmatch(item_id):
        why = "itemId is not a list item id (digits)"
    elif not isinstance(list_id, str) or not isinstance(site_id, str):
        why = "siteId and listId must be strings"
    if why is None:
        settings = app_context.current().settings()
        if "SHAREPOINT_LIST_ID" in dict(settings.sharepoint_problems):
            config.require(settings, "SHAREPOINT_LIST_ID")  # malformed: an operator's fix, worth a redelivery
        if _guid(list_id) != settings.sharepoint_list_id:  # also when the SharePoint intake is off
            why = "listId is not SHAREPOINT_LIST_ID"
        else:
            config.require(settings, "SHAREPOINT_SITE_URL")
            lists = SiteLists(app_context.current().graph())
            configured = lists.site_id(config.site_address(settings))
            if site_id.casefold() != configured.casefold():
                why = "siteId is not SHAREPOINT_SITE_URL's site"
            else:
                return configured, settings.sharepoint_list_id or "", item_id
    log_event("sharepoint.source_refused", level=logging.WARNING, reason=why,
              siteId=_shown(site_id), listId=_shown(list_id), itemId=_shown(item_id))
    return None


def _guid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value)) if len(value) <= 38 else None
    except ValueError:
        return None


def _shown(value: Any) -> str:
    # Untrusted: bounded, and its repr so that control characters are escaped.
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + f"… ({len(text)} characters)"


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
