"""Graph's HTTP surface: check the token, parse the request, ask the backend, render Graph's answer."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlencode, urlsplit

from ..errors import GraphError, insufficient_privileges, invalid_token
from ..tokens import TokenError
from ..wire import Request, Response
from . import exceptions
from .models import GUID, PERMISSIONS, GraphBackend
from .odata import FilterError, parse_filter

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# GET /users answers these unless $select asks for others (MGDC api/user-list.md "default properties").
USER_DEFAULT = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
                "preferredLanguage", "surname", "userPrincipalName", "id")
USER_SELECTABLE = {name.lower(): name for name in (*USER_DEFAULT, "otherMails", "proxyAddresses", "userType",
                                                   "externalUserState", "creationType", "mailNickname",
                                                   "accountEnabled", "createdDateTime")}
GRAPH_HOSTS = ("graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn")
MAX_BIND = 20  # members@odata.bind: "up to 20 members" per request (MGDC api/group-update.md)


# What Graph labels its OData answers with (MGDC concepts/json-batching.md example responses).
ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"


def odata(status: int, body: dict[str, Any]) -> Response:
    return Response.json(status, body, {"Content-Type": ODATA_JSON, "OData-Version": "4.0",
                                        "Cache-Control": "no-cache"})


class GraphApi:
    """Route handlers; each one authenticates, then applies the backend's rules."""

    def __init__(self, backend: GraphBackend) -> None:
        self.backend = backend
        self.sim = backend.sim

    # ---- authentication and authorization --------------------------------------------------------------------
    def authorize(self, request: Request, permission: str | None) -> dict[str, Any]:
        """The token's claims, or Graph's 401/403 (MGDC concepts/errors.md, resolve-auth-errors.md)."""
        header = (request.headers.get("Authorization") or "").strip()
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if not header or not token:
            raise self._unauthorized("Access token is empty.")
        if token.count(".") != 2:
            raise self._unauthorized("CompactToken parsing failed with error code: 80049217")
        audiences = [self.sim.graph_endpoint, "https://graph.microsoft.com", GRAPH_APP_ID]
        try:
            claims = self.sim.tokens.verify(token, audiences)
        except TokenError as error:
            raise self._unauthorized(str(error)) from None
        if claims.get("tid") != self.sim.tenant_id:
            raise self._unauthorized("Access token validation failure. Invalid issuer.")
        if permission is not None and not set(claims.get("roles") or ()) & set(PERMISSIONS[permission]):
            raise insufficient_privileges()
        return claims

    def _unauthorized(self, message: str) -> GraphError:
        error = invalid_token(message)
        # Graph's 401s point clients at the authority that issues its tokens.
        error.headers["WWW-Authenticate"] = (
            f'Bearer realm="", authorization_uri="{self.sim.authority_host}/common/oauth2/authorize", '
            f'client_id="{GRAPH_APP_ID}"')
        return error

    # ---- users ------------------------------------------------------------------------------------------------
    def list_users(self, request: Request) -> Response:
        self.authorize(request, "read_users")
        eventual = (request.headers.get("ConsistencyLevel") or "").lower() == "eventual"
        count = (request.arg("$count") or "").lower() == "true"
        search = request.arg("$search")
        if search is not None and not eventual:
            raise exceptions.search_needs_eventual()
        # Without the header Graph ignores $count=true ("@odata.count is missing even if the query is successful",
        # MGDC concepts/aad-advanced-queries.md); it still refuses advanced operators below.
        counted = count and eventual
        predicate = _search_predicate(search)
        keys = None
        text = request.arg("$filter")
        if text is not None:
            try:
                parsed = parse_filter(text)
            except FilterError:
                raise exceptions.invalid_filter() from None
            if parsed.advanced and not (eventual and count):
                first = parsed.advanced[0]
                if first == "endsWith()":
                    raise exceptions.operator_needs_advanced_query("endsWith")
                raise exceptions.unsupported_filter(first)
            predicate = _both(predicate, parsed.predicate)
            keys = parsed.keys  # $search and $filter are both applied: the filter's keys still narrow
        fields = _select(request)
        users = self.backend.list_users(predicate, keys)
        body = self._page(request, users, fields, "users")
        if counted:
            body = {"@odata.context": body["@odata.context"], "@odata.count": len(users), **body}
        return odata(200, body)

    def get_user(self, request: Request) -> Response:
        self.authorize(request, "read_users")
        fields = _select(request)
        user = self.backend.get_user(request.path_params["id"])
        context = f"{request.base_url}/v1.0/$metadata#users{_context_select(request)}/$entity"
        return odata(200, {"@odata.context": context, **_project(user, fields)})

    # ---- invitations ------------------------------------------------------------------------------------------
    def invite(self, request: Request) -> Response:
        claims = self.authorize(request, "invite")
        self.backend.spend("invitations", self.sim.tenant_id)
        body = _json(request)
        if isinstance(body, dict) and body.get("resetRedemption") is True and not (
                set(claims.get("roles") or ()) & set(PERMISSIONS["reset_redemption"])):
            raise insufficient_privileges()
        invitation = self.backend.rules.invite(body)
        context = f"{request.base_url}/v1.0/$metadata#invitations/$entity"
        return odata(201, {"@odata.context": context, **invitation})

    # ---- groups -----------------------------------------------------------------------------------------------
    def get_group(self, request: Request) -> Response:
        self.authorize(request, "read_groups")
        group = self.backend.get_group(request.path_params["id"])
        context = f"{request.base_url}/v1.0/$metadata#groups/$entity"
        return odata(200, {"@odata.context": context, **group.resource()})

    def list_members(self, request: Request) -> Response:
        self.authorize(request, "read_groups")
        with self.backend.lock:
            group = self.backend.get_group(request.path_params["id"])
            members = [dict(self.backend.users[m]) for m in group.members if m in self.backend.users]
        for member in members:
            member["@odata.type"] = "#microsoft.graph.user"
        return odata(200, self._page(request, members, ("@odata.type", *_select(request)),
                                             "directoryObjects"))

    def add_member_ref(self, request: Request) -> Response:
        claims = self.authorize(request, "write_members")
        self.backend.get_group(request.path_params["id"])
        self.backend.spend("directory_writes", claims.get("appid") or claims.get("azp") or "")
        body = _json(request)
        reference = body.get("@odata.id") if isinstance(body, dict) else None
        user_id = self._referenced_id(request, reference, "@odata.id")
        self.backend.add_members(request.path_params["id"], [user_id], set(claims.get("roles") or ()))
        return Response.empty(204)

    def update_group(self, request: Request) -> Response:
        body = _json(request)
        if not isinstance(body, dict):
            raise exceptions.unreadable_json()
        only_members = set(body) <= {"members@odata.bind"}
        claims = self.authorize(request, "write_members" if only_members else "write_groups")
        group = self.backend.get_group(request.path_params["id"])
        self.backend.spend("directory_writes", claims.get("appid") or claims.get("azp") or "")
        references = body.get("members@odata.bind", [])
        if not isinstance(references, list):
            raise exceptions.bad_request("Invalid value for property 'members@odata.bind'.", "Request_BadRequest")
        if len(references) > MAX_BIND:
            raise exceptions.bad_request(f"The request exceeds the limit of {MAX_BIND} members per request.",
                                         "Request_BadRequest")
        ids = [self._referenced_id(request, ref, "@odata.bind") for ref in references]
        with self.backend.lock:
            if ids:
                self.backend.add_members(group.id, ids, set(claims.get("roles") or ()))
            if isinstance(body.get("displayName"), str):
                group.display_name = body["displayName"]
        return Response.empty(204)

    def _referenced_id(self, request: Request, reference: Any, annotation: str) -> str:
        """The object id in ".../v1.0/directoryObjects/{id}" (users/{id} too), on Graph's or the simulator's host."""
        return self.referenced(request, reference, annotation, ("directoryObjects", "users"))[1]

    def referenced(self, request: Request, reference: Any, annotation: str,
                   kinds: tuple[str, ...]) -> tuple[str, str]:
        """(kind, id) of a ".../v1.0/{kind}/{id}" reference on Graph's or the simulator's host."""
        error = exceptions.bad_request(f"Invalid URL format specified in {annotation} for members",
                                       "Request_BadRequest")
        if not isinstance(reference, str):
            raise error
        url = urlsplit(reference)
        hosts = (*GRAPH_HOSTS, urlsplit(request.base_url).netloc)
        segments = url.path.strip("/").split("/")
        if url.netloc not in hosts and url.hostname not in hosts:
            raise error
        if len(segments) != 3 or segments[0] != "v1.0" or segments[1] not in kinds:
            raise error
        return segments[1], segments[2]

    @staticmethod
    def json_body(request: Request) -> Any:
        return _json(request)

    @staticmethod
    def odata(status: int, body: dict[str, Any]) -> Response:
        return odata(status, body)

    # ---- paging -----------------------------------------------------------------------------------------------
    def _page(self, request: Request, items: list[dict[str, Any]], fields: tuple[str, ...],
              entity_set: str) -> dict[str, Any]:
        top = _top(request, self.backend.page_size)
        offset = _skiptoken(request)
        page = items[offset: offset + top]
        body: dict[str, Any] = {
            "@odata.context": f"{request.base_url}/v1.0/$metadata#{entity_set}{_context_select(request)}",
            "value": [_project(item, fields) for item in page],
        }
        if offset + top < len(items):
            query = [(k, v) for k, values in request.query.items() if k.lower() != "$skiptoken" for v in values]
            token = base64.urlsafe_b64encode(f"offset:{offset + top}".encode()).decode().rstrip("=")
            query.append(("$skiptoken", token))
            body["@odata.nextLink"] = f"{request.base_url}{request.path}?{urlencode(query, safe='$,()')}"
        return body


def _json(request: Request) -> Any:
    try:
        return request.json()
    except ValueError:
        raise exceptions.unreadable_json() from None


def _select(request: Request) -> tuple[str, ...]:
    text = request.arg("$select")
    if not text:
        return USER_DEFAULT
    names = []
    for raw in text.split(","):
        name = USER_SELECTABLE.get(raw.strip().lower())
        if name is None:
            raise exceptions.unknown_property(raw.strip(), "user")
        names.append(name)
    return tuple(dict.fromkeys([*names, "id"]))


def _context_select(request: Request) -> str:
    text = request.arg("$select")
    return f"({text})" if text else ""


def _project(item: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: item.get(name) for name in fields if name in item or name != "@odata.type"}


def _top(request: Request, default: int) -> int:
    raw = request.arg("$top")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 999:
        raise exceptions.bad_request(f"Invalid page size specified: '{raw}'. Must be between 1 and 999 inclusive.",
                                     "Request_BadRequest")
    return int(raw)


def _skiptoken(request: Request) -> int:
    raw = request.arg("$skiptoken")
    if raw is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        if text.startswith("offset:") and text[7:].isdigit():
            return int(text[7:])
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise exceptions.bad_request("Invalid $skiptoken.", "Request_BadRequest")


def _search_predicate(search: str | None):
    if not search:
        return lambda user: True
    terms = [t.strip('"') for t in search.split(" OR ")]
    pairs = [t.split(":", 1) for t in terms if ":" in t]
    return lambda user: any(str(value).casefold() in str(user.get(prop) or "").casefold() for prop, value in pairs)


def _both(first, second):
    return lambda user: first(user) and second(user)


def is_guid(value: str) -> bool:
    return bool(GUID.match(value))
