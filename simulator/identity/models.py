"""The identity backend: app registrations and managed identities, their credentials and granted app roles,
and the rules for turning a proven client into an access token.

Seed format (the ``"identity"`` key of a seed file; every field but ``roles`` is optional):

    {"apps": [{"name": "default_app", "display_name": "…", "client_id": "…", "object_id": "…",
               "secret": true | "<literal secret>" | false, "certificate": false, "roles": ["User.Invite.All"]}],
     "managed_identities": [{"name": "system_identity", "user_assigned": false, "client_id": "…",
                             "object_id": "…", "roles": ["User.Invite.All"]}]}
"""

from __future__ import annotations

import collections
import hmac
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .certificates import ClientCertificate, create_client_certificate

if TYPE_CHECKING:
    from .. import Simulator

# The permissions the guest-onboarding app needs (cloud-facts.md, "Permissions"): every seeded principal has them.
DEFAULT_ROLES = ("User.Invite.All", "GroupMember.ReadWrite.All", "User.Read.All")
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# Graph's hosts in the national clouds (cloud-facts.md, "Tokens and clouds"): tokens for them are accepted too.
PUBLIC_GRAPH_RESOURCES = ("https://graph.microsoft.com", "https://graph.microsoft.us",
                          "https://dod-graph.microsoft.us", "https://microsoftgraph.chinacloudapi.cn", GRAPH_APP_ID)

DEFAULT_SEED: dict[str, Any] = {
    "apps": [
        {"name": "default_app", "display_name": "Guest onboarding (secret)", "secret": True,
         "client_id": "3f1e6b2a-8c4d-4e5f-9a6b-1c2d3e4f5a01", "object_id": "5b7d9f1a-2c3e-4a5b-8c6d-7e8f9a0b1c01",
         "roles": list(DEFAULT_ROLES)},
        {"name": "cert_app", "display_name": "Guest onboarding (certificate)", "secret": False, "certificate": True,
         "client_id": "3f1e6b2a-8c4d-4e5f-9a6b-1c2d3e4f5a02", "object_id": "5b7d9f1a-2c3e-4a5b-8c6d-7e8f9a0b1c02",
         "roles": list(DEFAULT_ROLES)},
    ],
    "managed_identities": [
        {"name": "system_identity", "user_assigned": False, "client_id": "6c8e0a2b-3d4f-4b6c-9d7e-8f9a0b1c2d01",
         "object_id": "7d9f1b3c-4e5a-4c7d-8e9f-0a1b2c3d4e01", "roles": list(DEFAULT_ROLES)},
        {"name": "user_identity", "user_assigned": True, "client_id": "6c8e0a2b-3d4f-4b6c-9d7e-8f9a0b1c2d02",
         "object_id": "7d9f1b3c-4e5a-4c7d-8e9f-0a1b2c3d4e02", "roles": list(DEFAULT_ROLES)},
    ],
}


@dataclass
class App:
    """An app registration with its service principal in the simulated tenant."""

    client_id: str
    object_id: str  # the service principal's object id: the token's ``oid``
    display_name: str
    secret: str | None = None
    certificate: ClientCertificate | None = None
    roles: set[str] = field(default_factory=set)

    @property
    def certificate_path(self) -> Path | None:
        return self.certificate.pem_path if self.certificate else None

    @property
    def certificate_pfx_path(self) -> Path | None:
        return self.certificate.pfx_path if self.certificate else None

    @property
    def certificate_password(self) -> str | None:
        return self.certificate.pfx_password if self.certificate else None

    @property
    def certificate_thumbprint(self) -> str | None:
        return self.certificate.thumbprint if self.certificate else None


@dataclass
class ManagedIdentity:
    client_id: str
    object_id: str
    display_name: str
    user_assigned: bool
    resource_id: str = ""  # what App Service's ``mi_res_id`` names (user-assigned only)
    roles: set[str] = field(default_factory=set)

    @property
    def principal_id(self) -> str:
        return self.object_id


Principal = App | ManagedIdentity


@dataclass
class CachedToken:
    """What the platform's managed identity cache holds for one identity and resource."""

    token: str
    expires_on: int  # real epoch seconds
    roles: set[str]  # the grants as they were when the cache was filled
    since: float  # simulated time the cache was filled


class IdentityBackend:
    """State of the identity services. Thread-safe: the listeners serve requests on many threads."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.lock = threading.RLock()
        self.apps: dict[str, App] = {}
        self.managed_identities: dict[str, ManagedIdentity] = {}
        self.named: dict[str, Principal] = {}  # seed names (default_app, cert_app, …)
        self.token_requests: collections.Counter[str] = collections.Counter()  # tokens issued per client id
        # Simulated seconds the managed identity endpoint keeps answering the token it first issued for an identity
        # and resource ("a cache per resource URI for around 24 hours", overview-managed-identity.md): 0 = off.
        self.mi_token_cache = 0.0
        self._mi_cache: dict[tuple[str, str], CachedToken] = {}

    # ---- registering principals ------------------------------------------------------------------------------
    def add_app(self, display_name: str = "Simulated app", roles: Iterable[str] = (), secret: bool | str = True,
                certificate: bool = False, client_id: str | None = None, object_id: str | None = None) -> App:
        client_id = client_id or str(uuid.uuid4())
        app = App(client_id=client_id, object_id=object_id or str(uuid.uuid4()), display_name=display_name,
                  roles=set(roles))
        if secret:
            app.secret = secret if isinstance(secret, str) else secrets.token_urlsafe(30)
        if certificate:
            app.certificate = create_client_certificate(self.sim.workdir / "identity", f"app-{client_id}",
                                                        self.sim.keys.certificate_key())
        with self.lock:
            self.apps[client_id] = app
        return app

    def add_managed_identity(self, user_assigned: bool = False, roles: Iterable[str] = (),
                             display_name: str | None = None, client_id: str | None = None,
                             object_id: str | None = None) -> ManagedIdentity:
        with self.lock:
            if not user_assigned and self.system_assigned() is not None:
                raise ValueError("the simulated host already has a system-assigned identity")
            client_id = client_id or str(uuid.uuid4())
            name = display_name or ("guest-onboarding-func" if not user_assigned else f"uami-{client_id[:8]}")
            resource_id = (f"/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/simulator/providers/"
                           f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}") if user_assigned else ""
            identity = ManagedIdentity(client_id=client_id, object_id=object_id or str(uuid.uuid4()),
                                       display_name=name, user_assigned=user_assigned, resource_id=resource_id,
                                       roles=set(roles))
            self.managed_identities[client_id] = identity
            return identity

    # ---- app role grants -------------------------------------------------------------------------------------
    def principal(self, client_id: str) -> Principal:
        with self.lock:
            found = self.apps.get(client_id) or self.managed_identities.get(client_id)
        if found is None:
            raise KeyError(f"no app or managed identity with client id {client_id}")
        return found

    def grant(self, principal_client_id: str, role: str) -> None:
        with self.lock:
            self.principal(principal_client_id).roles.add(role)

    def revoke(self, principal_client_id: str, role: str) -> None:
        with self.lock:
            self.principal(principal_client_id).roles.discard(role)

    def roles_of(self, client_id: str) -> set[str]:
        with self.lock:
            return set(self.principal(client_id).roles)

    # ---- lookups the routes use ------------------------------------------------------------------------------
    def knows_tenant(self, tenant: str) -> bool:
        """The tenant segment may be the tenant id or a verified domain, case-insensitively."""
        return tenant.lower() in (self.sim.tenant_id.lower(), self.sim.tenant_domain.lower())

    def app(self, client_id: str) -> App | None:
        with self.lock:
            return self.apps.get(client_id)

    def system_assigned(self) -> ManagedIdentity | None:
        with self.lock:
            return next((mi for mi in self.managed_identities.values() if not mi.user_assigned), None)

    def find_managed_identity(self, client_id: str | None = None, object_id: str | None = None,
                              resource_id: str | None = None) -> ManagedIdentity | None:
        """The identity an App Service token request names, or the system-assigned one when it names none."""
        with self.lock:
            users = [mi for mi in self.managed_identities.values() if mi.user_assigned]
            if client_id:
                return next((mi for mi in users if mi.client_id.lower() == client_id.lower()), None)
            if object_id:
                return next((mi for mi in users if mi.object_id.lower() == object_id.lower()), None)
            if resource_id:
                return next((mi for mi in users if mi.resource_id.lower() == resource_id.lower()), None)
            return self.system_assigned()

    @staticmethod
    def secret_matches(app: App, presented: str) -> bool:
        return app.secret is not None and hmac.compare_digest(app.secret.encode(), presented.encode())

    def known_resource(self, resource: str) -> bool:
        """Resources with a service principal in the tenant: Graph (any cloud's host, or this simulator's) and
        the simulator's other HTTPS services (SharePoint)."""
        resource = resource.rstrip("/")
        local = [listener.base_url for name, listener in self.sim._listeners.items()
                 if name not in ("login", "msi")]
        return resource in PUBLIC_GRAPH_RESOURCES or resource in local

    # ---- tokens ----------------------------------------------------------------------------------------------
    def managed_identity_token(self, identity: ManagedIdentity, audience: str) -> tuple[str, int]:
        """The endpoint's token: from the platform cache while it lasts (old roles and all), else a new one."""
        if self.mi_token_cache <= 0:
            return self.issue_token(identity, audience)
        key = (identity.client_id, audience)
        now = self.sim.clock.now()
        with self.lock:
            cached = self._mi_cache.get(key)
            if cached is None or now >= cached.since + self.mi_token_cache:
                token, expires_on = self.issue_token(identity, audience)
                self._mi_cache[key] = CachedToken(token, expires_on, set(identity.roles), now)
                return token, expires_on
            if cached.expires_on - time.time() > 300:
                return cached.token, cached.expires_on
            # The cached token ran out on the real clock before the cache did: a new token, still the cached roles.
            cached.token, cached.expires_on = self.issue_token(identity, audience, roles=cached.roles)
            return cached.token, cached.expires_on

    def clear_mi_token_cache(self) -> None:
        """Forget the platform's cached managed identity tokens (as if the cache lifetime had passed)."""
        with self.lock:
            self._mi_cache.clear()

    def issue_token(self, principal: Principal, audience: str, appidacr: str = "2",
                    lifetime: int | None = None, roles: set[str] | None = None) -> tuple[str, int]:
        """An app-only access token as Entra ID issues them (v1.0 format, what Graph gets); returns it and its
        ``exp``. ``roles`` is left out when nothing is granted, as Entra does (entra-docs access-token-claims);
        ``appidacr`` is "1" for a client secret, "2" for a certificate or a managed identity."""
        lifetime = self.sim.token_lifetime if lifetime is None else lifetime
        now = int(time.time())
        tid = self.sim.tenant_id
        with self.lock:
            roles = sorted(principal.roles if roles is None else roles)
            self.token_requests[principal.client_id] += 1
        claims: dict[str, Any] = {
            "aud": audience, "iss": f"https://sts.windows.net/{tid}/", "idp": f"https://sts.windows.net/{tid}/",
            "iat": now, "nbf": now, "exp": now + lifetime, "tid": tid,
            "appid": principal.client_id, "azp": principal.client_id,
            "appidacr": appidacr,
            "oid": principal.object_id, "sub": principal.object_id, "idtyp": "app", "ver": "1.0",
        }
        if roles:
            claims["roles"] = roles
        return self.sim.tokens.issue(claims, lifetime=lifetime), now + lifetime

    # ---- seeding ---------------------------------------------------------------------------------------------
    def seed_default(self) -> None:
        """default_app (secret), cert_app (certificate), system_identity, user_identity: fixed ids, DEFAULT_ROLES."""
        self.load_seed(DEFAULT_SEED)

    def load_seed(self, data: dict[str, Any]) -> None:
        for entry in data.get("apps", []):
            app = self.add_app(entry.get("display_name", entry.get("name", "Simulated app")), entry.get("roles", ()),
                               secret=entry.get("secret", True), certificate=entry.get("certificate", False),
                               client_id=entry.get("client_id"), object_id=entry.get("object_id"))
            self._name(entry.get("name"), app)
        for entry in data.get("managed_identities", []):
            identity = self.add_managed_identity(entry.get("user_assigned", False), entry.get("roles", ()),
                                                 entry.get("display_name"), entry.get("client_id"),
                                                 entry.get("object_id"))
            self._name(entry.get("name"), identity)

    def _name(self, name: str | None, principal: Principal) -> None:
        if not name:
            return
        self.named[name] = principal
        if name.isidentifier() and not hasattr(type(self), name):
            setattr(self, name, principal)  # sim.identity.default_app, sim.identity.user_identity, …

    def summary(self) -> str:
        """The seeded principals for the command line: ids and credential kinds, never a secret's value."""
        with self.lock:
            lines = [f"Identity: {len(self.apps)} apps, {len(self.managed_identities)} managed identities"]
            by_id = {id(p): n for n, p in self.named.items()}
            for app in self.apps.values():
                kind = "+".join(k for k, v in (("secret", app.secret), ("certificate", app.certificate)) if v)
                lines.append(f"  app  {app.client_id}  {by_id.get(id(app), app.display_name)} ({kind or 'none'})"
                             f"  roles: {', '.join(sorted(app.roles)) or '-'}")
                if app.certificate:
                    lines.append(f"       certificate (PEM key + cert): {app.certificate_path}")
            for mi in self.managed_identities.values():
                kind = "user-assigned" if mi.user_assigned else "system-assigned"
                lines.append(f"  mi   {mi.client_id}  {by_id.get(id(mi), mi.display_name)} ({kind})"
                             f"  roles: {', '.join(sorted(mi.roles)) or '-'}")
            return "\n".join(lines)
