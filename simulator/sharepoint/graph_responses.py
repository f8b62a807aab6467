"""Graph's sites, lists, items and delta routes: parse the request, ask the backend, render Graph's JSON
(MGDC resources/site.md, list.md, listitem.md, columndefinition.md, permission.md; api/listitem-delta.md)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..errors import GraphError
from ..wire import Request, Response
from . import exceptions
from .auth import allowed, graph_claims
from .models import Item, SharePointBackend, Site, SpList, iso


class SitesGraphApi:
    def __init__(self, backend: SharePointBackend) -> None:
        self.backend = backend

    # ---- sites -------------------------------------------------------------------------------------------------
    def get_site_by_path(self, request: Request) -> Response:
        site = self._site_of(request, "read", self.backend.site_by_path)
        return Response.json(200, {"@odata.context": self._context(request, "sites/$entity"), **self._site(site)})

    def get_site(self, request: Request) -> Response:
        site = self._site_of(request, "read")
        return Response.json(200, {"@odata.context": self._context(request, "sites/$entity"), **self._site(site)})

    def create_permission(self, request: Request) -> Response:
        """POST /sites/{id}/permissions: an application grant (Sites.Selected); needs Sites.FullControl.All."""
        site = self._site_of(request, "fullcontrol", grants_count=False)
        body = _json(request)
        roles = body.get("roles")
        identities = body.get("grantedToIdentities") or body.get("grantedToIdentitiesV2") or []
        apps = [i.get("application") for i in identities if isinstance(i, dict)]
        if not isinstance(roles, list) or not roles or not apps or not all(isinstance(a, dict) and a.get("id")
                                                                          for a in apps):
            raise exceptions.invalid_request("A permission needs 'roles' and 'grantedToIdentities' with an "
                                             "application id.")
        if not set(roles) <= {"read", "write", "manage", "fullcontrol", "owner"}:
            raise exceptions.invalid_request(f"Invalid roles: {roles}")
        app = apps[0]
        grant = self.backend.grant(site, app["id"], roles, app.get("displayName", ""))
        return Response.json(201, {"@odata.context": self._context(request, "sites('…')/permissions/$entity"),
                                   **_permission(grant)})

    def list_permissions(self, request: Request) -> Response:
        site = self._site_of(request, "fullcontrol", grants_count=False)
        return Response.json(200, {"value": [_permission(g) for g in site.grants]})

    # ---- lists and columns -------------------------------------------------------------------------------------
    def list_lists(self, request: Request) -> Response:
        site = self._site_of(request, "read")
        return Response.json(200, {"@odata.context": self._context(request, "lists"),
                                   "value": [self._list(x) for x in self.backend.lists_of(site)]})

    def create_list(self, request: Request) -> Response:
        site = self._site_of(request, "manage")
        body = _json(request)
        name = body.get("displayName")
        columns = body.get("columns", [])
        if not isinstance(name, str) or not name.strip() or not isinstance(columns, list):
            raise exceptions.invalid_request("A list needs a 'displayName'; 'columns' must be an array.")
        template = (body.get("list") or {}).get("template", "genericList")
        sp_list = self.backend.add_list(site, name.strip(), columns, template)
        return Response.json(201, {"@odata.context": self._context(request, "lists/$entity"),
                                   **self._list(sp_list, columns=True)})

    def get_list(self, request: Request) -> Response:
        _, sp_list = self._list_of(request, "read")
        expand = (request.arg("$expand") or "").lower()
        return Response.json(200, {"@odata.context": self._context(request, "lists/$entity"),
                                   **self._list(sp_list, columns="columns" in expand)})

    def list_columns(self, request: Request) -> Response:
        _, sp_list = self._list_of(request, "read")
        return Response.json(200, {"value": [dict(c) for c in sp_list.columns]})

    def create_column(self, request: Request) -> Response:
        _, sp_list = self._list_of(request, "manage")
        return Response.json(201, self.backend.add_column(sp_list, _json(request)))

    # ---- items -------------------------------------------------------------------------------------------------
    def list_items(self, request: Request) -> Response:
        _, sp_list = self._list_of(request, "read")
        expand = "fields" in (request.arg("$expand") or "").lower()
        return Response.json(200, {"value": [self._item(sp_list, i, expand) for i in self.backend.live_items(sp_list)]})

    def create_item(self, request: Request) -> Response:
        _, sp_list = self._list_of(request, "write")
        fields = _json(request).get("fields")
        if not isinstance(fields, dict):
            raise exceptions.invalid_request("A list item needs 'fields'.")
        item = self.backend.add_item(sp_list, fields)
        return Response.json(201, self._item(sp_list, item, True), {"ETag": item.etag})

    def get_item(self, request: Request) -> Response:
        _, sp_list = self._list_of(request, "read")
        item = self.backend.get_item(sp_list, request.path_params["item"])
        expand = "fields" in (request.arg("$expand") or "").lower()
        return Response.json(200, self._item(sp_list, item, expand), {"ETag": item.etag})

    def get_fields(self, request: Request) -> Response:
        _, sp_list = self._list_of(request, "read")
        item = self.backend.get_item(sp_list, request.path_params["item"])
        return Response.json(200, _fields(item), {"ETag": item.fields_etag})

    def update_fields(self, request: Request) -> Response:
        """PATCH …/items/{id}/fields → 200 with the fields; If-Match that no longer matches → 412."""
        _, sp_list = self._list_of(request, "write")
        item = self.backend.update_fields(sp_list, request.path_params["item"], _json(request),
                                          request.headers.get("If-Match"))
        return Response.json(200, _fields(item), {"ETag": item.fields_etag})

    def delete_item(self, request: Request) -> Response:
        _, sp_list = self._list_of(request, "write")
        self.backend.delete_item(sp_list, request.path_params["item"])
        return Response.empty(204)

    def delta(self, request: Request) -> Response:
        site, sp_list = self._list_of(request, "read")
        base = f"{request.base_url}/v1.0/sites/{self.backend.site_id(site)}/lists/{sp_list.id}/items/delta"
        expand = "fields" in (request.arg("$expand") or "").lower()
        try:
            cursor = self.backend.delta_start(sp_list, request.arg("token"), expand)
        except exceptions.ResyncRequired:
            # A Location that starts a fresh enumeration (MGDC api/listitem-delta.md, "410 Gone").
            raise exceptions.ResyncRequired(base + ("?$expand=fields" if expand else "")) from None
        top = request.arg("$top")
        items, token, last = self.backend.delta_page(sp_list, cursor, int(top) if top and top.isdigit() else None)
        value = [self._item(sp_list, i, cursor.expand_fields) if not i.deleted else _deleted(i, site) for i in items]
        link = "@odata.deltaLink" if last else "@odata.nextLink"
        suffix = "&$expand=fields" if cursor.expand_fields else ""  # links keep the caller's $expand
        return Response.json(200, {"@odata.context": self._context(request, "Collection(microsoft.graph.listItem)"),
                                   "value": value, link: f"{base}?token={quote(token)}{suffix}"})

    # ---- rendering and lookups ---------------------------------------------------------------------------------
    def _site_of(self, request: Request, need: str, by_path=None, grants_count: bool = True) -> Site:
        """Authenticate first (a caller without a valid token learns nothing), then find the site, then check
        the permission against it (Sites.Selected grants are per site)."""
        claims = graph_claims(self.backend, request)
        if by_path is not None:
            site = by_path(request.path_params["hostname"], request.path_params["path"])
        else:
            site = self.backend.site_by_id(request.path_params["site"])
        if not allowed(self.backend, claims, site if grants_count else None, need):
            raise exceptions.access_denied()
        return site

    def _list_of(self, request: Request, need: str) -> tuple[Site, SpList]:
        site = self._site_of(request, need)
        return site, self.backend.get_list(site, request.path_params["list"])

    def _context(self, request: Request, what: str) -> str:
        return f"{request.base_url}/v1.0/$metadata#{what}"

    def _site(self, site: Site) -> dict[str, Any]:
        return {"createdDateTime": iso(site.created), "description": "", "id": self.backend.site_id(site),
                "lastModifiedDateTime": iso(site.created), "name": site.path.rsplit("/", 1)[-1],
                "webUrl": self.backend.site_url(site), "displayName": site.display_name,
                "root": {}, "siteCollection": {"hostname": self.backend.hostname}}

    def _list(self, sp_list: SpList, columns: bool = False) -> dict[str, Any]:
        rendered = {"@odata.etag": f'"{sp_list.id},{sp_list.change}"', "createdDateTime": iso(sp_list.created),
                    "description": "", "eTag": f'"{sp_list.id},{sp_list.change}"', "id": sp_list.id,
                    "lastModifiedDateTime": iso(sp_list.created), "name": sp_list.name,
                    "webUrl": f"{self.backend.site_url(sp_list.site)}/Lists/{sp_list.name}",
                    "displayName": sp_list.display_name,
                    "parentReference": {"siteId": self.backend.site_id(sp_list.site)},
                    "list": {"contentTypesEnabled": False, "hidden": False, "template": sp_list.template}}
        if columns:
            rendered["columns"] = [dict(c) for c in sp_list.columns]
        return rendered

    def _item(self, sp_list: SpList, item: Item, expand_fields: bool) -> dict[str, Any]:
        web_url = f"{self.backend.site_url(sp_list.site)}/Lists/{sp_list.name}/{item.id}_.000"
        rendered = {"@odata.etag": item.etag, "createdDateTime": iso(item.created), "eTag": item.etag,
                    "id": item.id, "lastModifiedDateTime": iso(item.modified), "webUrl": web_url,
                    "createdBy": {"user": {"displayName": "System Account"}},
                    "lastModifiedBy": {"user": {"displayName": "System Account"}},
                    "parentReference": {"id": sp_list.id, "siteId": self.backend.site_id(sp_list.site)},
                    "contentType": {"id": "0x0100", "name": "Item"}}
        if expand_fields:
            rendered["fields"] = _fields(item)
        return rendered


def _fields(item: Item) -> dict[str, Any]:
    return {"@odata.etag": item.fields_etag, "id": item.id, "ContentType": "Item", "Created": iso(item.created),
            "Modified": iso(item.modified), "AuthorLookupId": "1073741822", "EditorLookupId": "1073741822",
            "_UIVersionString": f"{item.version}.0", "Attachments": False, **item.fields}


def _deleted(item: Item, site: Site) -> dict[str, Any]:
    return {"id": item.id, "parentReference": {"siteId": site.collection_id},
            "contentType": {"id": "0x0100", "name": "Item"}, "deleted": {"state": "deleted"}}


def _permission(grant: dict[str, Any]) -> dict[str, Any]:
    identity = {"application": {"id": grant["appId"], "displayName": grant["name"]}}
    return {"id": grant["id"], "roles": grant["roles"], "grantedToIdentities": [identity],
            "grantedToIdentitiesV2": [identity]}


def _json(request: Request) -> Any:
    try:
        body = request.json()
    except ValueError:
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header "
                         "is set and payload is of valid JSON format.") from None
    if not isinstance(body, dict):
        raise exceptions.invalid_request("The body must be a JSON object.")
    return body
