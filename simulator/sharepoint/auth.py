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

from ..tokens import TokenError
from ..wire import Request
from . import exceptions

if TYPE_CHECKING:
    from .models import SharePointBackend, Site

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
    """A Graph token's claims, or Graph's 401: the Graph simulator's own check (authentication only here; the
    sites permissions, grants included, are judged by :func:`allowed`)."""
    from ..graph.responses import GraphApi

    return GraphApi(backend.sim.graph).authorize(request, None)


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
