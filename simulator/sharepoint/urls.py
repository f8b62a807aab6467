"""The routing tables: Graph's /v1.0/sites/… (served by the Graph listener) and SharePoint REST's /_api/…"""

from __future__ import annotations

from ..server import Route
from .graph_responses import SitesGraphApi
from .models import SharePointBackend
from .rest_responses import SubscriptionsRestApi

SITE = r"/v1\.0/sites/(?P<site>[^/:]+(?::\d+)?,[^/,]+,[^/,]+)"
LIST = SITE + r"/lists/(?P<list>[^/]+)"
ITEM = LIST + r"/items/(?P<item>\d+)"


def sharepoint_graph_routes(backend: SharePointBackend) -> list[Route]:
    api = SitesGraphApi(backend)
    return [
        # /sites/{hostname}:/{server-relative-path} (MGDC api/site-getbypath.md); the hostname may carry a port here
        Route("GET", r"/v1\.0/sites/(?P<hostname>[^/,]+?):(?P<path>/[^:]+):?", api.get_site_by_path, "sites.byPath"),
        Route("GET", SITE, api.get_site, "sites.get"),
        Route("GET", SITE + "/permissions", api.list_permissions, "sites.permissions.list"),
        Route("POST", SITE + "/permissions", api.create_permission, "sites.permissions.create"),
        Route("GET", SITE + "/lists", api.list_lists, "lists.list"),
        Route("POST", SITE + "/lists", api.create_list, "lists.create"),
        Route("GET", LIST, api.get_list, "lists.get"),
        Route("GET", LIST + "/columns", api.list_columns, "columns.list"),
        Route("POST", LIST + "/columns", api.create_column, "columns.create"),
        Route("GET", LIST + "/items", api.list_items, "items.list"),
        Route("POST", LIST + "/items", api.create_item, "items.create"),
        Route("GET", LIST + "/items/delta", api.delta, "items.delta"),
        Route("GET", ITEM, api.get_item, "items.get"),
        Route("DELETE", ITEM, api.delete_item, "items.delete"),
        Route("GET", ITEM + "/fields", api.get_fields, "items.fields.get"),
        Route("PATCH", ITEM + "/fields", api.update_fields, "items.fields.update"),
    ]


REST_LIST = r"(?P<site>(?:/sites/[^/]+)?)/_api/web/lists\((?:guid)?'(?P<list>[0-9A-Fa-f-]+)'\)/subscriptions"


def sharepoint_rest_routes(backend: SharePointBackend) -> list[Route]:
    api = SubscriptionsRestApi(backend)
    one = REST_LIST + r"\('(?P<subscription>[^']+)'\)"
    return [
        Route("POST", REST_LIST, api.create, "subscriptions.create"),
        Route("GET", REST_LIST, api.list_all, "subscriptions.list"),
        Route("GET", one, api.get_one, "subscriptions.get"),
        Route("PATCH", one, api.update, "subscriptions.update"),
        Route("DELETE", one, api.delete, "subscriptions.delete"),
    ]
