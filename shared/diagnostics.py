"""What the app needs, checked read-only, each with the exact fix: ``python cli.py doctor`` and ``GET /api/health``.

Checks: the settings; a Graph token (never shown); its ``roles`` claim against the Graph app roles the app needs
(decoded without verifying: it is our own token, read only for ``roles`` and ``oid``); a live read-only Graph call;
each allowed group (exists, not dynamic); the queues; and recorded evidence of invitations blocked by tenant policy.
Nothing here creates, sends or changes anything. The report carries no token, secret or key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from .credentials import CredentialError, build_token_provider
from .diagnostics_report import Check, Report, Status
from .graph import GraphClient, GraphError
from .settings import DEFAULT_GRAPH_ENDPOINT, CredentialMode, Settings, SettingsError
from .storage_checks import queue_checks

__all__ = ["REQUIRED_ROLES", "SITES_ROLES", "Check", "Report", "Status", "diagnose"]

# Graph application permissions (MGDC permissions-reference), each with the broader roles Graph also accepts for
# the same calls (MGDC permissions-reference); a broader one passes but is flagged as more than needed.
REQUIRED_ROLES: dict[str, tuple[str, ...]] = {
    "User.Invite.All": ("User.ReadWrite.All", "Directory.ReadWrite.All"),
    "GroupMember.ReadWrite.All": ("Group.ReadWrite.All", "Directory.ReadWrite.All"),
    "User.Read.All": ("User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
}
# The opt-in lifecycle features' permissions (docs/lifecycle.md): checked only when their setting is on.
# (role, broader roles Graph also accepts, the setting that needs it, grant script flag (bash), (PowerShell))
LIFECYCLE_ROLES: dict[str, tuple[str, tuple[str, ...], str, str, str]] = {
    "sponsors": ("User.ReadWrite.All", ("Directory.ReadWrite.All",), "SPONSORS_ENABLED=true", "--sponsors",
                 "-Sponsors"),
    "disable": ("User.EnableDisableAccount.All", ("User.ReadWrite.All", "Directory.ReadWrite.All"),
                "OFFBOARDING_ACTION=disable", "--offboarding disable", "-Offboarding disable"),
    "delete": ("User.DeleteRestore.All", ("User.ReadWrite.All",), "OFFBOARDING_ACTION=delete",
               "--offboarding delete", "-Offboarding delete"),
}
SITES_ROLES = ("Sites.Selected", "Sites.ReadWrite.All")  # either (docs/sharepoint.md); Selected needs a site grant
GRANT_SCRIPT = "scripts/grant-graph-permissions.sh"
GRAPH_BUDGET_SECONDS = 10.0  # per Graph call of a check: a health check must answer quickly
MAX_GROUPS_CHECKED = 20

GraphSource = Callable[[Settings], GraphClient]


def diagnose(environ: Mapping[str, str], graph_source: GraphSource | None = None) -> Report:
    """Run every check against ``environ``. ``graph_source`` gives the Graph client (the app's own, with its
    token cache); by default a new one is built for this run and closed afterwards."""
    checks: list[Check] = []
    settings = _settings_check(environ, checks)
    if settings is None:
        checks.append(Check("graph token", Status.SKIPPED, "skipped until the settings are valid"))
    else:
        graph = _graph(settings, graph_source or _new_graph, checks)
        try:
            principal = _graph_checks(settings, graph, checks) if graph is not None else None
            checks.extend(_group_checks(settings, graph if principal else None, principal or "<object id>"))
        finally:
            if graph is not None and graph_source is None:  # ours: close its connections; the app's stays open
                graph.close()
    checks.extend(queue_checks(environ, settings))
    return Report.create(checks)


def _new_graph(settings: Settings) -> GraphClient:
    return GraphClient(settings.graph_endpoint, build_token_provider(settings))


def _settings_check(environ: Mapping[str, str], checks: list[Check]) -> Settings | None:
    try:
        settings = Settings.from_env(environ)
    except SettingsError as error:
        detail = "; ".join(f"{name}: {message}" for name, message in error.problems.items())
        fix = "Set " + ", ".join(error.names) + " (app settings in Azure; local.settings.json Values locally); " \
              "README 'Configuration' lists each setting."
        checks.append(Check("settings", Status.ERROR, detail, fix))
        return None
    mode = settings.credential_mode.value
    checks.append(Check("settings", Status.OK, f"valid; credential mode {mode}, Graph {settings.graph_endpoint}"))
    if settings.sharepoint_problems:  # the invitation doors work without them; the SharePoint features do not
        names = [name for name, _ in settings.sharepoint_problems]
        checks.append(Check("sharepoint settings", Status.ERROR,
                            "; ".join(f"{name}: {message}" for name, message in settings.sharepoint_problems),
                            f"Fix {', '.join(names)} (docs/sharepoint.md), or clear them to turn the SharePoint "
                            "list intake off; invitations work meanwhile."))
    return settings


def _graph(settings: Settings, source: GraphSource, checks: list[Check]) -> GraphClient | None:
    try:
        return source(settings)
    except CredentialError as error:
        checks.append(_token_failure(settings, error))
    except (OSError, ValueError) as error:  # the certificate file: unreadable, wrong password, not a key+cert
        checks.append(Check("graph token", Status.ERROR, f"cannot load the client certificate: {type(error).__name__}",
                            "Point AZURE_CLIENT_CERTIFICATE_PATH at a PEM (key + certificate) or PFX file readable "
                            "by the app, with AZURE_CLIENT_CERTIFICATE_PASSWORD for an encrypted one."))
    return None


def _graph_checks(settings: Settings, graph: GraphClient, checks: list[Check]) -> str | None:
    """Token, roles and a Graph read; the principal's object id when a token was read, else None."""
    try:
        token = graph.tokens.token()
    except CredentialError as error:
        checks.append(_token_failure(settings, error))
        return None
    claims = token_claims(token)
    del token  # read once for its claims; never kept, logged or shown
    if claims is None:
        checks.append(Check("graph token", Status.ERROR, "the token is not a JWT: cannot read its roles",
                            "Check GRAPH_ENDPOINT: the token must be for Microsoft Graph."))
        return None
    roles = sorted(claims.get("roles") or [])
    principal = str(claims.get("oid") or "<object id>")
    checks.append(Check("graph token", Status.OK,
                        f"acquired ({settings.credential_mode.value}) for app {claims.get('appid')}, "
                        f"object id {principal}; roles: {', '.join(roles) or 'none'}"))
    checks.extend(role_checks(settings, set(roles), principal))
    checks.append(_graph_probe(settings, graph, principal))
    return principal


def token_claims(token: str) -> dict[str, Any] | None:
    """The JWT's payload, NOT verified: only to read the app's own ``roles`` and ``oid``."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def grant_command(settings: Settings, principal: str, *, sharepoint: bool = False, extra: str = "") -> str:
    """The command that grants what is missing (idempotent: what is there already is left alone)."""
    prefix = f"GRAPH_ENDPOINT={settings.graph_endpoint} " if settings.graph_endpoint != DEFAULT_GRAPH_ENDPOINT else ""
    command = f"{prefix}{GRANT_SCRIPT} --principal-id {principal}"
    if sharepoint:
        command += f" --sharepoint --site-url {settings.sharepoint_site_url}"
    return f"{command} {extra}" if extra else command


def role_checks(settings: Settings, roles: set[str], principal: str) -> list[Check]:
    """One check per required Graph app role: present (or a broader one), or missing with the grant command."""
    checks = []
    admin = ("Run as a Privileged Role Administrator (or Global Administrator): {command}   "
             "(PowerShell: scripts/grant-graph-permissions.ps1 -PrincipalId {principal}{ps_extra}). ")
    if settings.credential_mode is CredentialMode.MANAGED_IDENTITY:
        admin += ("If it was granted recently: the platform may serve a managed identity a cached token without the "
                  "new role for up to 24 h (azure-docs overview-managed-identity.md); re-check later, then re-drive "
                  "what failed meanwhile: python cli.py poison requeue group-memberships-poison --all (and "
                  "guest-invitations-poison).")
    else:
        admin += "A new grant shows in the next token."
    for role, broader in REQUIRED_ROLES.items():
        via = [name for name in broader if name in roles]
        if role in roles:
            checks.append(Check(f"permission {role}", Status.OK, "granted"))
        elif via:
            checks.append(Check(f"permission {role}", Status.OK, f"covered by {via[0]} (more than needed)"))
        else:
            fix = admin.format(command=grant_command(settings, principal), principal=principal, ps_extra="")
            checks.append(Check(f"permission {role}", Status.MISSING, f"{role} is not in the token's roles", fix))
    wanted = (["sponsors"] if settings.sponsors_enabled else []) + (
        [settings.offboarding_action] if settings.offboarding_action in LIFECYCLE_ROLES else [])
    for feature in wanted:
        role, broader, setting, flag, ps_flag = LIFECYCLE_ROLES[feature]
        via = [name for name in broader if name in roles]
        name = f"permission {role}"
        if role in roles:
            checks.append(Check(name, Status.OK, f"granted ({setting})"))
        elif via:
            checks.append(Check(name, Status.OK, f"covered by {via[0]} (more than needed; {setting})"))
        else:
            fix = admin.format(command=grant_command(settings, principal, extra=flag), principal=principal,
                               ps_extra=f" {ps_flag}")
            checks.append(Check(name, Status.MISSING, f"{setting} needs {role}, which is not in the token's roles",
                                fix))
    if settings.sharepoint_site_url:
        have = [name for name in SITES_ROLES if name in roles]
        name = f"permission {' or '.join(SITES_ROLES)}"
        if have:
            note = " (the site's write grant cannot be seen in a token)" if have[0] == "Sites.Selected" else ""
            checks.append(Check(name, Status.OK, f"{have[0]} granted{note}"))
        else:
            fix = admin.format(command=grant_command(settings, principal, sharepoint=True), principal=principal,
                               ps_extra=f" -SharePoint -SiteUrl {settings.sharepoint_site_url}")
            checks.append(Check(name, Status.MISSING, "SHAREPOINT_SITE_URL is set but neither role is in the token",
                                fix.replace("Privileged Role Administrator", "Privileged Role Administrator and "
                                            "SharePoint Administrator")))
    return checks


def _graph_probe(settings: Settings, graph: GraphClient, principal: str) -> Check:
    """GET /users?$top=1&$select=id: the cheapest read (2 resource units, MGDC concepts/throttling-limits.md)."""
    try:
        graph.request("GET", "/users", query={"$top": "1", "$select": "id"},
                      budget=graph.budget(GRAPH_BUDGET_SECONDS))
    except GraphError as error:
        return _graph_failure("graph read", settings, error, principal, "User.Read.All")
    return Check("graph read", Status.OK, "GET /v1.0/users?$top=1&$select=id answered 200")


def _graph_failure(name: str, settings: Settings, error: GraphError, principal: str, role: str) -> Check:
    said = f"Graph answered {error.status} {error.code}: {error.message}" if error.status else \
        f"no answer from Graph ({error.code})"
    if error.status == 403:
        return Check(name, Status.MISSING, f"{said} ({role} needed)",
                     f"Grant {role}: {grant_command(settings, principal)}")
    if error.status == 401:
        return Check(name, Status.ERROR, said, "Graph refused the token: GRAPH_ENDPOINT and AZURE_AUTHORITY_HOST must "
                                               "be the same cloud (docs/deploy.md national clouds).")
    return Check(name, Status.ERROR, said, "Graph failed or is throttling: check again in a minute.")


def _group_checks(settings: Settings, graph: GraphClient | None, principal: str) -> list[Check]:
    """ALLOWED_GROUP_IDS: set, and each group exists and can take members (read when Graph is usable)."""
    if settings.allow_any_group:
        return [Check("allowed groups", Status.OK, "'*': callers may add guests to any group; a list of ids is "
                                                   "safer (GroupMember.ReadWrite.All is tenant-wide)")]
    if not settings.allowed_group_ids:
        return [Check("allowed groups", Status.MISSING, "ALLOWED_GROUP_IDS is empty: every group is refused",
                      "Set ALLOWED_GROUP_IDS to the comma-separated ids of the groups callers may add guests to "
                      "(azd env set ALLOWED_GROUP_IDS \"<id>,<id>\" && azd provision).")]
    ids = sorted(settings.allowed_group_ids)
    checks = [Check("allowed groups", Status.OK, f"{len(ids)} group id(s) in ALLOWED_GROUP_IDS")]
    if graph is None:
        return [*checks, Check("groups", Status.SKIPPED, "not read: no Graph token")]
    for group_id in ids[:MAX_GROUPS_CHECKED]:
        try:
            checks.append(_group_check(settings, graph, group_id))
        except GraphError as error:  # refused or failing for one group: the same for the others, say it once
            return [*checks, _graph_failure("groups", settings, error, principal, "GroupMember.ReadWrite.All")]
    if len(ids) > MAX_GROUPS_CHECKED:
        checks.append(Check("groups not checked", Status.SKIPPED,
                            f"{len(ids) - MAX_GROUPS_CHECKED} more: a check reads at most {MAX_GROUPS_CHECKED}"))
    return checks


def _group_check(settings: Settings, graph: GraphClient, group_id: str) -> Check:
    """GET /groups/{id}: exists, and not dynamic (MGDC group-post-members: dynamic groups take no members).
    Raises GraphError for anything but 404."""
    name = f"group {group_id}"
    try:
        group = graph.request("GET", f"/groups/{quote(group_id, safe='')}",
                              query={"$select": "id,displayName,groupTypes,membershipRule,isAssignableToRole"},
                              budget=graph.budget(GRAPH_BUDGET_SECONDS)) or {}
    except GraphError as error:
        if error.status != 404:
            raise
        return Check(name, Status.MISSING, "no such group in this tenant",
                     f"Correct or remove {group_id} in ALLOWED_GROUP_IDS.")
    title = group.get("displayName") or group_id
    if "DynamicMembership" in (group.get("groupTypes") or []):
        return Check(name, Status.ERROR, f"{title!r} has dynamic membership: Graph refuses to add members to it",
                     f"Remove {group_id} from ALLOWED_GROUP_IDS, or use a group with assigned membership.")
    if group.get("isAssignableToRole"):  # needs RoleManagement.ReadWrite.Directory too, deliberately not granted
        return Check(name, Status.ERROR, f"{title!r} is role-assignable: adding members needs "
                     "RoleManagement.ReadWrite.Directory, which this app is deliberately not granted",
                     f"Remove {group_id} from ALLOWED_GROUP_IDS (privileged groups stay out of the app's reach).")
    return Check(name, Status.OK, f"{title!r} (assigned membership)")


def _token_failure(settings: Settings, error: CredentialError) -> Check:
    detail = f"no token: {error.message}"
    if error.transient:
        return Check("graph token", Status.ERROR, detail,
                     f"The identity platform ({settings.authority_host}) did not answer: check again shortly.")
    mode = settings.credential_mode
    if mode is CredentialMode.MANAGED_IDENTITY:
        fix = ("Give the function app a managed identity (user-assigned: attach it and set AZURE_CLIENT_ID to its "
               "client id). Off Azure there is none: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET "
               "(or a certificate) instead.")
    elif mode is CredentialMode.SECRET:
        fix = (f"The secret was refused ({error.code}): check AZURE_TENANT_ID and AZURE_CLIENT_ID, and create a new "
               f"secret if it expired: az ad app credential reset --id {settings.client_id} --append, then set "
               "AZURE_CLIENT_SECRET.")
    else:
        fix = (f"The certificate was refused ({error.code}): upload it to the app registration: "
               f"az ad app credential reset --id {settings.client_id} --cert @<certificate.pem> --append.")
    return Check("graph token", Status.ERROR, detail, fix)
