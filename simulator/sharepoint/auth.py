"""Who may do what on a site: app-only tokens checked as Graph and SharePoint Online check them.

Application permissions (MGDC permissions-reference, api/listitem-*.md, api/list-create.md,
api/site-post-permissions.md; sp-dev-docs webhooks/lists/*-subscription.md), least privileged first:
  read items / delta      Sites.Read.All, or Sites.Selected + a site grant (read, write, manage, fullcontrol)
  write items             Sites.ReadWrite.All, or Sites.Selected + write, manage or fullcontrol
  create lists, columns   Sites.Manage.All (Sites.ReadWrite.All is listed too), or Sites.Selected + write or more
  subscriptions (own)     edit rights on the list: as "write items"
  all subscriptions       "full control of all site collections": Sites.FullControl.All or a fullcontrol grant
  grant a site            Sites.FullControl.All
A grant made with POST /v1.0/sites/{id}/permissions applies to both doors, as in SharePoint Online.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import GraphError, invalid_token
from ..tokens import TokenError
from ..wire import Request
from . import exceptions

if TYPE_CHECKING:
    from .models import SharePointBackend, Site

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
SHAREPOINT_APP_ID = "00000003-0000-0ff1-ce00-000000000000"

TENANT_WIDE: dict[str, set[str]] = {
    "read": {"Sites.Read.All", "Sites.ReadWrite.All", "Sites.Manage.All", "Sites.FullControl.All"},
    "write": {"Sites.ReadWrite.All", "Sites.Manage.All", "Sites.FullControl.All"},
    "manage": {"Sites.Manage.All", "Sites.ReadWrite.All", "Sites.FullControl.All"},
    "fullcontrol": {"Sites.FullControl.All"},
}
SITE_GRANTS: dict[str, set[str]] = {
    "read": {"read", "write", "manage", "fullcontrol", "owner"},
    "write": {"write", "manage", "fullcontrol", "owner"},
    "manage": {"write", "manage", "fullcontrol", "owner"},
    "fullcontrol": {"fullcontrol", "owner"},
}


def bearer(request: Request) -> str:
    header = (request.headers.get("Authorization") or "").strip()
    return header[7:].strip() if header[:7].lower() == "bearer " else ""


def allowed(backend: SharePointBackend, claims: dict[str, Any], site: Site | None, need: str) -> bool:
    roles = set(claims.get("roles") or ())
    if roles & TENANT_WIDE[need]:
        return True
    if site is None or "Sites.Selected" not in roles:
        return False
    return bool(backend.granted_roles(site, claims.get("appid") or claims.get("azp")) & SITE_GRANTS[need])


def graph_claims(backend: SharePointBackend, request: Request) -> dict[str, Any]:
    """A Graph token's claims, or Graph's 401 (the same checks and body as simulator/graph)."""
    sim = backend.sim
    token = bearer(request)
    if not token:
        raise _graph_unauthorized(sim, "Access token is empty.")
    if token.count(".") != 2:
        raise _graph_unauthorized(sim, "CompactToken parsing failed with error code: 80049217")
    try:
        claims = sim.tokens.verify(token, [sim.graph_endpoint, sim.graph_endpoint + "/", "https://graph.microsoft.com",
                                           GRAPH_APP_ID])
    except TokenError as error:
        raise _graph_unauthorized(sim, str(error)) from None
    if claims.get("tid") != sim.tenant_id:
        raise _graph_unauthorized(sim, "Access token validation failure. Invalid issuer.")
    return claims


def _graph_unauthorized(sim, message: str) -> GraphError:
    error = invalid_token(message)
    error.headers["WWW-Authenticate"] = (f'Bearer realm="", authorization_uri="{sim.authority_host}/common/oauth2/'
                                         f'authorize", client_id="{GRAPH_APP_ID}"')
    return error


def rest_authorize(backend: SharePointBackend, request: Request, site: Site, need: str) -> dict[str, Any]:
    """A SharePoint token's claims, or SharePoint Online's 401/403."""
    sim = backend.sim
    token = bearer(request)
    if not token or token.count(".") != 2:
        raise exceptions.SharePointAuthError("Invalid JWT token. No token.", sim.tenant_id)
    try:
        claims = sim.tokens.verify(token, [backend.base_url, backend.base_url + "/", SHAREPOINT_APP_ID])
    except TokenError as error:
        text = "Invalid audience Uri." if "audience" in str(error) else "Invalid issuer or signature."
        if "expired" in str(error):
            text = "Invalid JWT token. The token is expired."
        raise exceptions.SharePointAuthError(text, sim.tenant_id) from None
    if claims.get("tid") != sim.tenant_id:
        raise exceptions.SharePointAuthError("Invalid issuer or signature.", sim.tenant_id)
    if claims.get("appidacr") == "1":
        # SharePoint REST refuses app-only tokens got with a client secret; a certificate or a managed identity
        # is needed (sp-dev-docs solution-guidance/security-apponly-azuread.md).
        raise exceptions.SharePointAuthError("Unsupported app only token.", sim.tenant_id)
    if not allowed(backend, claims, site, need):
        raise exceptions.rest_access_denied()
    return claims
