"""SharePoint's state and rules: sites, lists with columns, items with eTags, the change log behind
``items/delta``, site permission grants (Sites.Selected) and the list webhook subscriptions.

Handlers in graph_responses.py / rest_responses.py parse and render; everything that decides lives here, under
one lock. Every change to an item is also handed to the notifier (delivery.py), as SharePoint fires its list
webhooks for changes made through any door, the app's own writes included.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import exceptions
from .delivery import Notifier
from .subscriptions import Subscriptions

if TYPE_CHECKING:
    from .. import Simulator

# Deterministic ids of the default seed (docs/sharepoint.md names them).
PARTNERS_SITE_PATH = "/sites/partners"
PARTNERS_SITE_COLLECTION_ID = "4f2c8a6e-0000-4000-8000-000000000001"
PARTNERS_WEB_ID = "4f2c8a6e-0000-4000-8000-000000000002"

# Column kinds Graph's columnDefinition carries (MGDC resources/columndefinition.md); one of them per column.
COLUMN_KINDS = ("text", "choice", "dateTime", "number", "boolean", "personOrGroup", "lookup", "currency",
                "hyperlinkOrPicture", "calculated")
BUILT_IN_FIELDS = {"Title", "id", "ContentType", "Created", "Modified", "AuthorLookupId", "EditorLookupId",
                   "_UIVersionString", "Attachments", "Edit", "LinkTitle", "LinkTitleNoMenu", "ItemChildCount",
                   "FolderChildCount", "_ComplianceFlags", "_ComplianceTag", "_ComplianceTagWrittenTime",
                   "_ComplianceTagUserId", "AppAuthorLookupId", "AppEditorLookupId"}
READ_ONLY_FIELDS = BUILT_IN_FIELDS - {"Title"}


def iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Site:
    path: str  # server-relative: /sites/partners
    display_name: str
    collection_id: str
    web_id: str
    created: float
    grants: list[dict[str, Any]] = field(default_factory=list)  # Sites.Selected: {"id","roles","appId","name"}


@dataclass
class Item:
    id: str
    unique_id: str
    fields: dict[str, Any]
    created: float
    modified: float
    version: int = 1
    change: int = 0  # the list's change number of the last change to this item
    deleted: bool = False

    @property
    def etag(self) -> str:
        """listItem.eTag: ``"{GUID},version"`` with the quotes (MGDC api/listitem-delta.md example)."""
        return f'"{{{self.unique_id.upper()}}},{self.version}"'

    @property
    def fields_etag(self) -> str:
        """fieldValueSet's @odata.etag: ``"guid,version"``."""
        return f'"{self.unique_id},{self.version}"'


@dataclass
class SpList:
    id: str
    site: Site
    display_name: str
    name: str
    columns: list[dict[str, Any]]
    created: float
    template: str = "genericList"
    items: dict[str, Item] = field(default_factory=dict)
    change: int = 0  # bumped on every item change; what delta tokens remember
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))


@dataclass
class DeltaCursor:
    """What an opaque delta token stands for: the changes after ``since``, or the rest of a page run."""

    list_id: str
    since: int  # -1: a full enumeration
    expand_fields: bool
    pending: list[str] | None = None  # ids still to return in this run (nextLink); None: compute at use
    snapshot: int = 0


class SharePointBackend:
    """Sites, lists, items and their change log, grants, subscriptions. Thread-safe."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.lock = threading.RLock()
        self.sites: dict[str, Site] = {}  # by server-relative path, lower case
        self.lists: dict[str, SpList] = {}  # by list id
        self.delta_page_size = 200
        self._cursors: dict[str, DeltaCursor] = {}
        self.notifier = Notifier(self)
        self.subscriptions = Subscriptions(self)

    # ---- addresses ---------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The SharePoint host: https://localhost:PORT (stands for https://contoso.sharepoint.com)."""
        return self.sim.url("sharepoint")

    @property
    def hostname(self) -> str:
        return urlsplit(self.base_url).netloc

    def site_url(self, site: Site) -> str:
        return self.base_url + site.path

    def site_id(self, site: Site) -> str:
        """Graph's composite site id: ``hostname,siteCollectionId,webId`` (MGDC resources/site.md)."""
        return f"{self.hostname},{site.collection_id},{site.web_id}"

    # ---- sites -------------------------------------------------------------------------------------------------
    def add_site(self, path: str, display_name: str, collection_id: str | None = None,
                 web_id: str | None = None) -> Site:
        site = Site("/" + path.strip("/"), display_name, collection_id or str(uuid.uuid4()),
                    web_id or str(uuid.uuid4()), self.sim.clock.now())
        with self.lock:
            self.sites[site.path.lower()] = site
        return site

    def site_by_path(self, hostname: str, path: str) -> Site:
        with self.lock:
            site = self.sites.get("/" + path.strip("/").lower())
        if site is None or hostname.lower() != self.hostname.lower():
            raise exceptions.site_not_found()
        return site

    def site_by_id(self, site_id: str) -> Site:
        parts = site_id.split(",")
        with self.lock:
            for site in self.sites.values():
                if len(parts) == 3 and parts[0].lower() == self.hostname.lower() and \
                        parts[1].lower() == site.collection_id and parts[2].lower() == site.web_id:
                    return site
        raise exceptions.site_not_found()

    def grant(self, site: Site, app_id: str, roles: list[str], display_name: str = "") -> dict[str, Any]:
        """A Sites.Selected grant for an app on one site (MGDC api/site-post-permissions.md)."""
        grant = {"id": secrets.token_urlsafe(24), "roles": list(roles), "appId": app_id, "name": display_name}
        with self.lock:
            site.grants = [g for g in site.grants if g["appId"].lower() != app_id.lower()] + [grant]
        return grant

    def granted_roles(self, site: Site, app_id: str | None) -> set[str]:
        with self.lock:
            return {r for g in site.grants if app_id and g["appId"].lower() == app_id.lower() for r in g["roles"]}

    # ---- lists -------------------------------------------------------------------------------------------------
    def add_list(self, site: Site, display_name: str, columns: list[dict[str, Any]] | None = None,
                 template: str = "genericList") -> SpList:
        with self.lock:
            if any(x.site is site and x.display_name.casefold() == display_name.casefold()
                   for x in self.lists.values()):
                raise exceptions.list_name_taken()
            sp_list = SpList(str(uuid.uuid4()), site, display_name, re.sub(r"[^A-Za-z0-9]", "", display_name),
                             [], self.sim.clock.now(), template)
            self.lists[sp_list.id] = sp_list
            for column in columns or []:
                self.add_column(sp_list, column)
            return sp_list

    def add_column(self, sp_list: SpList, definition: dict[str, Any]) -> dict[str, Any]:
        name = definition.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise exceptions.invalid_request("A column needs a 'name' made of letters, digits and underscores.")
        with self.lock:
            if name in BUILT_IN_FIELDS or any(c["name"].casefold() == name.casefold() for c in sp_list.columns):
                raise exceptions.GraphError(409, "nameAlreadyExists", f"A column named '{name}' already exists.")
            kinds = [k for k in COLUMN_KINDS if k in definition] or ["text"]
            column = {"id": str(uuid.uuid4()), "name": name, "displayName": definition.get("displayName", name),
                      "description": definition.get("description", ""), "columnGroup": "Custom Columns",
                      "enforceUniqueValues": bool(definition.get("enforceUniqueValues", False)),
                      "hidden": bool(definition.get("hidden", False)),
                      "indexed": bool(definition.get("indexed", False)),
                      "readOnly": False, "required": bool(definition.get("required", False)),
                      kinds[0]: definition.get(kinds[0], {})}
            if "defaultValue" in definition:
                column["defaultValue"] = definition["defaultValue"]
            sp_list.columns.append(column)
            return dict(column)

    def get_list(self, site: Site, key: str) -> SpList:
        """By id or by display name, as Graph's ``/lists/{list-id or title}`` allows."""
        with self.lock:
            found = self.lists.get(key.lower())
            if found is None:
                found = next((x for x in self.lists.values()
                              if x.site is site and x.display_name.casefold() == key.casefold()), None)
        if found is None or found.site is not site:
            raise exceptions.list_not_found()
        return found

    def lists_of(self, site: Site) -> list[SpList]:
        with self.lock:
            return [x for x in self.lists.values() if x.site is site]

    # ---- items -------------------------------------------------------------------------------------------------
    def add_item(self, sp_list: SpList, fields: dict[str, Any]) -> Item:
        """Create a row, as an owner does in the browser or an app through Graph; notifies subscribers."""
        self._check_fields(sp_list, fields)
        now = self.sim.clock.now()
        with self.lock:
            values = {c["name"]: c["defaultValue"]["value"] for c in sp_list.columns
                      if isinstance(c.get("defaultValue"), dict) and "value" in c["defaultValue"]}
            values.update(fields)
            item = Item(str(next(sp_list.ids)), str(uuid.uuid4()), values, now, now)
            sp_list.items[item.id] = item
            self._touch(sp_list, item)
        self.notifier.changed(sp_list)
        return item

    def update_fields(self, sp_list: SpList, item_id: str, fields: dict[str, Any],
                      if_match: str | None = None) -> Item:
        """PATCH …/items/{id}/fields: 412 when If-Match names another version; the eTag changes every time."""
        self._check_fields(sp_list, fields)
        with self.lock:
            item = self.get_item(sp_list, item_id)
            if if_match is not None and not self._etag_matches(item, if_match):
                raise exceptions.etag_mismatch()
            item.fields.update(fields)
            item.version += 1
            item.modified = self.sim.clock.now()
            self._touch(sp_list, item)
        self.notifier.changed(sp_list)
        return item

    def delete_item(self, sp_list: SpList, item_id: str) -> None:
        with self.lock:
            item = self.get_item(sp_list, item_id)
            item.deleted = True
            self._touch(sp_list, item)
        self.notifier.changed(sp_list)

    def get_item(self, sp_list: SpList, item_id: str) -> Item:
        with self.lock:
            item = sp_list.items.get(item_id)
            if item is None or item.deleted:
                raise exceptions.item_not_found()
            return item

    def live_items(self, sp_list: SpList) -> list[Item]:
        with self.lock:
            return [i for i in sorted(sp_list.items.values(), key=lambda i: int(i.id)) if not i.deleted]

    def _touch(self, sp_list: SpList, item: Item) -> None:
        sp_list.change += 1
        item.change = sp_list.change

    @staticmethod
    def _etag_matches(item: Item, presented: str) -> bool:
        if presented.strip() == "*":
            return True
        wanted = {item.etag, item.fields_etag}
        normalise = lambda tag: tag.strip().removeprefix("W/").strip('"').replace("{", "").replace("}", "").lower()  # noqa: E731
        return any(normalise(presented) == normalise(tag) for tag in wanted)

    def _check_fields(self, sp_list: SpList, fields: dict[str, Any]) -> None:
        known = {c["name"] for c in sp_list.columns} | {"Title"}
        for name in fields:
            if name in READ_ONLY_FIELDS:
                raise exceptions.invalid_request(f"Field '{name}' is read-only")
            if name not in known:
                raise exceptions.invalid_request(f"Field '{name}' is not recognized")

    # ---- delta -------------------------------------------------------------------------------------------------
    def delta_start(self, sp_list: SpList, token: str | None, expand_fields: bool) -> DeltaCursor:
        """The cursor for a delta call: a fresh enumeration, ``latest``, or a stored token (410 when unknown)."""
        with self.lock:
            if token is None:
                return DeltaCursor(sp_list.id, -1, expand_fields)
            if token == "latest":
                return DeltaCursor(sp_list.id, sp_list.change, expand_fields, pending=[], snapshot=sp_list.change)
            cursor = self._cursors.get(token)
            if cursor is None or cursor.list_id != sp_list.id:
                raise exceptions.ResyncRequired("")  # the route fills in the Location
            return cursor

    def delta_page(self, sp_list: SpList, cursor: DeltaCursor, top: int | None) -> tuple[list[Item], str, bool]:
        """One page: the items, the token for the next call, and whether it is a deltaLink (last page)."""
        with self.lock:
            pending = cursor.pending
            snapshot = cursor.snapshot
            if pending is None:
                snapshot = sp_list.change
                changed = [i for i in sp_list.items.values()
                           if (cursor.since < 0 and not i.deleted) or (cursor.since >= 0 and i.change > cursor.since)]
                pending = [i.id for i in sorted(changed, key=lambda i: int(i.id))]
            size = max(1, min(top or self.delta_page_size, self.delta_page_size))
            page, rest = pending[:size], pending[size:]
            items = [sp_list.items[i] for i in page]
            last = not rest
            following = (DeltaCursor(sp_list.id, snapshot, cursor.expand_fields, None, snapshot) if last
                         else DeltaCursor(sp_list.id, cursor.since, cursor.expand_fields, rest, snapshot))
            token = secrets.token_urlsafe(18)
            self._cursors[token] = following
            return items, token, last

    def expire_delta_tokens(self, sp_list: SpList | None = None) -> int:
        """Test hook: forget delta tokens (of one list or all), so the next call with one answers 410."""
        with self.lock:
            gone = [t for t, c in self._cursors.items() if sp_list is None or c.list_id == sp_list.id]
            for token in gone:
                del self._cursors[token]
            return len(gone)

    # ---- seeding -----------------------------------------------------------------------------------------------
    def seed_default(self) -> None:
        """The Partners site (fixed ids) on the simulated SharePoint host; lists are created by the app."""
        self.add_site(PARTNERS_SITE_PATH, "Partners", PARTNERS_SITE_COLLECTION_ID, PARTNERS_WEB_ID)

    def load_seed(self, data: dict[str, Any]) -> None:
        """{"sites": [{"path", "displayName", "collectionId"?, "webId"?, "lists": [{"displayName", "columns",
        "items": [{fields}]}]}]}"""
        for entry in data.get("sites", []):
            site = self.add_site(entry["path"], entry.get("displayName", entry["path"].rsplit("/", 1)[-1]),
                                 entry.get("collectionId"), entry.get("webId"))
            for list_entry in entry.get("lists", []):
                sp_list = self.add_list(site, list_entry["displayName"], list_entry.get("columns", []))
                for fields in list_entry.get("items", []):
                    self.add_item(sp_list, fields)

    def stop(self) -> None:
        self.notifier.stop()
