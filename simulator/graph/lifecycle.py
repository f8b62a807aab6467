"""A guest's life after the invitation: removal from a group, sponsors, disabling and deleting the account
(MGDC api/group-delete-members.md, user-post-sponsors.md, user-list-sponsors.md, user-update.md, user-delete.md).

Least privileged application permissions, from each page's permission table (app role ids in docs/simulator.md):
remove member GroupMember.ReadWrite.All; add sponsor User.ReadWrite.All; accountEnabled User.EnableDisableAccount.All
together with User.Read.All; delete user User.DeleteRestore.All.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import GraphError, insufficient_privileges
from ..wire import Request, Response
from . import exceptions
from .models import GUID, PERMISSIONS

if TYPE_CHECKING:
    from .responses import GraphApi

# Who may change accountEnabled: both of the first pair, or one of the broader roles (user-update.md).
ENABLE_DISABLE_PAIR = {"User.EnableDisableAccount.All", "User.Read.All"}
ENABLE_DISABLE_BROAD = {"User.ReadWrite.All", "Directory.ReadWrite.All"}


def removed_reference_missing() -> GraphError:
    # The other shape public clients handle for "not a member" (seen right after a removal elsewhere).
    return GraphError(400, "Request_BadRequest", "One or more removed object references do not exist for the "
                                                 "following modified properties: 'members'.")


class LifecycleApi:
    def __init__(self, api: GraphApi) -> None:
        self.api = api
        self.backend = api.backend

    def remove_member(self, request: Request) -> Response:
        claims = self.api.authorize(request, "write_members")
        roles = set(claims.get("roles") or ())
        group = self.backend.get_group(request.path_params["id"])
        member = request.path_params["member"]
        self.backend.spend("directory_writes", claims.get("appid") or claims.get("azp") or "")
        if not GUID.match(member):
            raise exceptions.invalid_object_identifier(member)
        with self.backend.lock:
            if group.dynamic or (group.role_assignable
                                 and not roles & set(PERMISSIONS["write_role_assignable_members"])):
                raise insufficient_privileges()  # "You can't remove a member from groups with dynamic memberships"
            if member.lower() not in group.members:
                if self.backend.not_member_answer == "removed-do-not-exist":
                    raise removed_reference_missing()
                raise exceptions.resource_not_found(member)
            group.members.remove(member.lower())
        return Response.empty(204)

    def add_sponsor(self, request: Request) -> Response:
        claims = self.api.authorize(request, "write_sponsors")
        self.backend.spend("directory_writes", claims.get("appid") or claims.get("azp") or "")
        body = self.api.json_body(request)
        reference = body.get("@odata.id") if isinstance(body, dict) else None
        # A sponsor is a user or a group (user-post-sponsors.md examples 1 and 2).
        _, sponsor_id = self.api.referenced(request, reference, "@odata.id", ("users", "groups", "directoryObjects"))
        if not GUID.match(sponsor_id):
            raise exceptions.invalid_object_identifier(sponsor_id)
        with self.backend.lock:
            user = self._user(request.path_params["id"])
            if sponsor_id.lower() not in self.backend.users and sponsor_id.lower() not in self.backend.groups:
                raise exceptions.resource_not_found(sponsor_id)
            sponsors = user.setdefault("sponsors", [])
            if sponsor_id.lower() in sponsors:
                raise GraphError(400, "Request_BadRequest", "One or more added object references already exist for "
                                                            "the following modified properties: 'sponsors'.")
            sponsors.append(sponsor_id.lower())
        return Response.empty(204)

    def list_sponsors(self, request: Request) -> Response:
        self.api.authorize(request, "read_users")
        with self.backend.lock:
            user = self._user(request.path_params["id"])
            found: list[dict[str, Any]] = []
            for sponsor_id in user.get("sponsors", []):
                if sponsor_id in self.backend.users:
                    found.append({"@odata.type": "#microsoft.graph.user", **self.backend.users[sponsor_id]})
                elif sponsor_id in self.backend.groups:
                    found.append({"@odata.type": "#microsoft.graph.group",
                                  **self.backend.groups[sponsor_id].resource()})
        value = [{k: v for k, v in item.items() if k != "sponsors"} for item in found]
        context = f"{request.base_url}/v1.0/$metadata#directoryObjects"
        return self.api.odata(200, {"@odata.context": context, "value": value})

    def update_user(self, request: Request) -> Response:
        claims = self.api.authorize(request, None)
        roles = set(claims.get("roles") or ())
        body = self.api.json_body(request)
        if not isinstance(body, dict):
            raise exceptions.unreadable_json()
        for name in body:
            if name not in ("accountEnabled", "displayName"):
                raise exceptions.unknown_property(name, "user")
        may_enable = roles >= ENABLE_DISABLE_PAIR or bool(roles & ENABLE_DISABLE_BROAD)
        may_write = bool(roles & ENABLE_DISABLE_BROAD)
        if ("accountEnabled" in body and not may_enable) or ("displayName" in body and not may_write):
            raise insufficient_privileges()
        if "accountEnabled" in body and not isinstance(body["accountEnabled"], bool):
            raise exceptions.bad_request("Invalid value specified for property 'accountEnabled' of resource 'User'.",
                                         "Request_BadRequest")
        if "displayName" in body and not (isinstance(body["displayName"], str) and body["displayName"]):
            raise exceptions.bad_request("Invalid value specified for property 'displayName' of resource 'User'.",
                                         "Request_BadRequest")
        self.backend.spend("directory_writes", claims.get("appid") or claims.get("azp") or "")
        with self.backend.lock:
            user = self._user(request.path_params["id"])
            user.update(body)  # neither property is indexed
        return Response.empty(204)  # user-update.md: 204 No Content

    def delete_user(self, request: Request) -> Response:
        claims = self.api.authorize(request, "delete_users")
        self.backend.spend("directory_writes", claims.get("appid") or claims.get("azp") or "")
        with self.backend.lock:
            self.backend.delete_user(self._user(request.path_params["id"])["id"])
        return Response.empty(204)

    def _user(self, key: str) -> dict[str, Any]:
        """The stored record (not a copy) of a user by id or UPN; 404 as Graph answers."""
        found = self.backend.get_user(key)
        return self.backend.users[found["id"]]
