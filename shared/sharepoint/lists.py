"""The "Guest requests" list through Microsoft Graph: its definition, provisioning, reading changes with
``items/delta`` and writing a row back with ``If-Match`` (MGDC api/site-getbypath.md, list-create.md,
columndefinition-post.md, listitem-delta.md, listitem-update.md)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .. import app_context
from ..graph import CallBudget, GraphClient, GraphError
from .config import SiteAddress

LIST_TITLE = "Guest requests"
STATUSES = ("Pending", "Invited", "Added", "Failed")
# The columns an owner fills in (Email, DisplayName, GroupIds, Message, AccessUntil) and the ones the app writes back.
COLUMNS: tuple[dict[str, Any], ...] = (
    {"name": "Email", "displayName": "Email", "text": {}, "required": True, "indexed": True},
    {"name": "DisplayName", "displayName": "Display name", "text": {}},
    {"name": "GroupIds", "displayName": "Group ids", "text": {"allowMultipleLines": True},
     "description": "One or more group ids (GUIDs), separated by ';' or ','."},
    {"name": "Message", "displayName": "Invitation message", "text": {"allowMultipleLines": True}},
    {"name": "AccessUntil", "displayName": "Access until", "dateTime": {"format": "dateTime"},
     "description": "When the group access ends (empty: DEFAULT_ACCESS_DAYS, or no end)."},
    {"name": "Status", "displayName": "Status", "choice": {"choices": list(STATUSES), "displayAs": "dropDownMenu"},
     "defaultValue": {"value": "Pending"}},
    {"name": "InvitedUserId", "displayName": "Invited user id", "text": {}},
    {"name": "Error", "displayName": "Error", "text": {"allowMultipleLines": True}},
    {"name": "ProcessedAt", "displayName": "Processed at", "dateTime": {"format": "dateTime"}},
    {"name": "AccessStatus", "displayName": "Access status", "text": {"allowMultipleLines": True},
     "description": "Written by the app when the row's group access ends: until when, reminded, expired, revoked."},
)
BUDGET_SECONDS = 30.0


def segment(value: str) -> str:
    """One Graph path segment from data, percent-encoded: a ``/``, ``..``, ``?`` or ``#`` in an id must never change
    which resource a request addresses. Commas stay: Graph's site ids are ``hostname,collectionId,webId``."""
    return quote(str(value), safe=",")


class SiteLists:
    def __init__(self, graph: GraphClient, budget_seconds: float = BUDGET_SECONDS) -> None:
        self.graph = graph
        self.budget_seconds = budget_seconds

    def _budget(self) -> CallBudget:
        return self.graph.budget(self.budget_seconds)

    def site_id(self, site: SiteAddress) -> str:
        """``hostname,siteCollectionId,webId`` from the site URL; resolved once per process."""
        ctx = app_context.current()
        with ctx.lock:
            if site.url in ctx.site_ids:
                return ctx.site_ids[site.url]
        answer = self.graph.request("GET", f"/sites/{site.hostname}:{quote(site.path)}", budget=self._budget(),
                                    query={"$select": "id,webUrl,displayName"})
        with ctx.lock:
            ctx.site_ids[site.url] = answer["id"]
        return answer["id"]

    # ---- provisioning -------------------------------------------------------------------------------------------
    def find_list(self, site_id: str, title: str) -> dict[str, Any] | None:
        answer = self.graph.request("GET", f"/sites/{segment(site_id)}/lists", budget=self._budget())
        return next((x for x in answer.get("value", []) if x.get("displayName", "").casefold() == title.casefold()),
                    None)

    def provision(self, site_id: str, title: str = LIST_TITLE) -> tuple[dict[str, Any], list[str], bool]:
        """Create the list with its columns, or add the columns an existing list lacks:
        (the list, the columns added, whether the list was created)."""
        existing = self.find_list(site_id, title)
        if existing is None:
            body = {"displayName": title, "list": {"template": "genericList"}, "columns": list(COLUMNS)}
            created = self.graph.request("POST", f"/sites/{segment(site_id)}/lists", body=body, budget=self._budget())
            return created, [c["name"] for c in COLUMNS], True
        columns_path = f"/sites/{segment(site_id)}/lists/{segment(existing['id'])}/columns"
        columns = self.graph.request("GET", columns_path, budget=self._budget())
        have = {c.get("name") for c in columns.get("value", [])}
        added = []
        for column in COLUMNS:
            if column["name"] not in have:
                self.graph.request("POST", columns_path, body=column,
                                   budget=self._budget())
                added.append(column["name"])
        return existing, added, False

    # ---- rows ---------------------------------------------------------------------------------------------------
    def delta_start(self, site_id: str, list_id: str) -> str:
        return f"/sites/{segment(site_id)}/lists/{segment(list_id)}/items/delta?$expand=fields"

    def delta_page(self, link: str) -> dict[str, Any]:
        """One page of changes; ``link`` is a path or a nextLink/deltaLink/Location Graph gave."""
        return self.graph.request("GET", self._path(link), budget=self._budget()) or {}

    def get_item(self, site_id: str, list_id: str, item_id: str) -> dict[str, Any]:
        return self.graph.request("GET", self._item_path(site_id, list_id, item_id),
                                  query={"$expand": "fields"}, budget=self._budget())

    def update_fields(self, site_id: str, list_id: str, item_id: str, fields: dict[str, Any],
                      etag: str | None) -> dict[str, Any]:
        """PATCH the fields; with ``etag`` only if nobody changed the row since (412 GraphError otherwise)."""
        headers = {"If-Match": etag} if etag else None
        return self.graph.request("PATCH", self._item_path(site_id, list_id, item_id) + "/fields",
                                  body=fields, headers=headers, budget=self._budget()) or {}

    @staticmethod
    def _item_path(site_id: str, list_id: str, item_id: str) -> str:
        return f"/sites/{segment(site_id)}/lists/{segment(list_id)}/items/{segment(item_id)}"

    def _path(self, link: str) -> str:
        if link.startswith("/"):
            return link
        # Only follow links into our own Graph endpoint: the token must never be sent anywhere else.
        if not link.startswith(self.graph.base_url + "/"):
            raise GraphError(None, "unexpectedLink", "Graph returned a link outside its endpoint")
        return link[len(self.graph.base_url):]


def reset_site_ids() -> None:
    """Kept for the test harnesses: app_context.reset() forgets the site ids with everything else."""
    ctx = app_context.current()
    with ctx.lock:
        ctx.site_ids.clear()
