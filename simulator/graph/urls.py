"""Graph v1.0's routing table: method, path regex, handler."""

from __future__ import annotations

from ..server import Route
from .batch import BatchHandler
from .lifecycle import LifecycleApi
from .models import GraphBackend
from .responses import GraphApi

ID = r"(?P<id>[^/]+)"
MEMBER = r"(?P<member>[^/]+)"


def graph_routes(backend: GraphBackend) -> list[Route]:
    api = GraphApi(backend)
    lifecycle = LifecycleApi(api)
    routes = [
        Route("POST", r"/v1\.0/invitations", api.invite, "invitations.create"),
        Route("GET", r"/v1\.0/users", api.list_users, "users.list"),
        Route("GET", rf"/v1\.0/users/{ID}", api.get_user, "users.get"),
        Route("GET", rf"/v1\.0/groups/{ID}", api.get_group, "groups.get"),
        Route("PATCH", rf"/v1\.0/groups/{ID}", api.update_group, "groups.update"),
        Route("GET", rf"/v1\.0/groups/{ID}/members", api.list_members, "groups.members.list"),
        Route("POST", rf"/v1\.0/groups/{ID}/members/\$ref", api.add_member_ref, "groups.members.add"),
        Route("DELETE", rf"/v1\.0/groups/{ID}/members/{MEMBER}/\$ref", lifecycle.remove_member,
              "groups.members.remove"),
        Route("PATCH", rf"/v1\.0/users/{ID}", lifecycle.update_user, "users.update"),
        Route("DELETE", rf"/v1\.0/users/{ID}", lifecycle.delete_user, "users.delete"),
        Route("GET", rf"/v1\.0/users/{ID}/sponsors", lifecycle.list_sponsors, "users.sponsors.list"),
        Route("POST", rf"/v1\.0/users/{ID}/sponsors/\$ref", lifecycle.add_sponsor, "users.sponsors.add"),
    ]
    return [*routes, Route("POST", r"/v1\.0/\$batch", BatchHandler(api, routes), "batch")]
