"""The identity services' protocol: parse each request as MSAL / azure-identity send it and render the answer
(or the error) exactly as Entra ID and the App Service identity endpoint do.

Sources: entra-docs identity-platform v2-oauth2-client-creds-grant-flow.md (the token request and answer),
certificate-credentials.md (the client assertion), v2-protocols-oidc.md (discovery), reference-error-codes.md
(AADSTS codes); azure-docs app-service/overview-managed-identity.md (the identity endpoint).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import TYPE_CHECKING, Any

import jwt

from ..errors import EntraError
from ..wire import Request, Response
from .exceptions import ManagedIdentityError, tenant_not_found
from .models import App

if TYPE_CHECKING:
    from .models import IdentityBackend

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MSI_API_VERSION = "2019-08-01"
NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


def missing_parameter(name: str) -> EntraError:
    return EntraError(400, "invalid_request", 900144,
                      f"The request body must contain the following parameter: '{name}'.")


def invalid_assertion(reason: str, thumbprint: str = "") -> EntraError:
    by = f", Thumbprint of key used by client: '{thumbprint}'" if thumbprint else ""
    return EntraError(401, "invalid_client", 700027, f"Client assertion contains an invalid signature. "
                                                     f"[Reason - {reason}{by}]")


class LoginResponses:
    """login.microsoftonline.com: discovery, keys and the client credentials grant."""

    def __init__(self, backend: IdentityBackend) -> None:
        self.backend = backend
        self.sim = backend.sim

    def _tenant(self, request: Request, error: str) -> str:
        tenant = request.path_params["tenant"]
        if not self.backend.knows_tenant(tenant):
            raise tenant_not_found(tenant, error)
        return self.sim.tenant_id  # Entra answers with the tenant id even when asked by domain

    def openid_configuration(self, request: Request) -> Response:
        tid = self._tenant(request, "invalid_tenant")
        base = f"{request.base_url}/{tid}"
        graph_host = self.sim.graph_endpoint.split("://", 1)[1]
        return Response.json(200, {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{self.sim.graph_endpoint}/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
                                 "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": graph_host,
            "rbac_url": "https://pas.windows.net",
        })

    def keys(self, request: Request) -> Response:
        self._tenant(request, "invalid_tenant")
        return Response.json(200, self.sim.tokens.jwks())

    # ---- POST /{tenant}/oauth2/v2.0/token --------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        self._tenant(request, "invalid_request")
        try:
            form = request.form()
        except UnicodeDecodeError:
            form = {}
        grant_type = form.get("grant_type")
        if not grant_type:
            raise missing_parameter("grant_type")
        if grant_type != "client_credentials":
            raise EntraError(400, "unsupported_grant_type", 70003,
                             f"The app requested an unsupported grant type '{grant_type}'.")
        client_id = form.get("client_id")
        if not client_id:
            raise missing_parameter("client_id")
        app = self.backend.app(client_id)
        if app is None:
            raise EntraError(
                400, "unauthorized_client", 700016,
                f"Application with identifier '{client_id}' was not found in the directory '{self.sim.tenant_id}'. "
                "This can happen if the application has not been installed by the administrator of the tenant or "
                "consented to by any user in the tenant. You may have sent your authentication request to the wrong "
                "tenant.")
        resource = self._resource(form.get("scope"))
        appidacr = self._authenticate(request, app, form)
        if not self.backend.known_resource(resource):
            raise EntraError(
                400, "invalid_resource", 500011,
                f"The resource principal named {resource} was not found in the tenant named {self.sim.tenant_domain}. "
                "This can happen if the application has not been installed by the administrator of the tenant or "
                "consented to by any user in the tenant. You might have sent your authentication request to the "
                "wrong tenant.")
        token, _ = self.backend.issue_token(app, resource, appidacr)
        lifetime = self.sim.token_lifetime
        return Response.json(200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                                   "access_token": token}, NO_STORE)

    @staticmethod
    def _resource(scope: str | None) -> str:
        """Client credentials take exactly one ``{resource}/.default`` scope (v2-oauth2-client-creds-grant-flow.md)."""
        if not scope:
            raise missing_parameter("scope")
        scopes = scope.split()
        for value in scopes:
            if not value.endswith("/.default"):
                raise EntraError(
                    400, "invalid_scope", 1002012,
                    f"The provided value for scope {value} is not valid. Client credential flows must have a scope "
                    "value with /.default suffixed to the resource identifier (application ID URI).")
        if len(scopes) != 1:
            raise EntraError(
                400, "invalid_scope", 70011,
                "The provided request must include a 'scope' input parameter. The provided value for the input "
                f"parameter 'scope' is not valid. The scope {scope} is not valid.")
        return scopes[0][: -len("/.default")]

    def _authenticate(self, request: Request, app: App, form: dict[str, str]) -> str:
        """Check the client's secret or certificate assertion; returns the ``appidacr`` it earns."""
        if form.get("client_assertion"):
            if form.get("client_assertion_type") != JWT_BEARER:
                raise missing_parameter("client_assertion_type")
            self._verify_assertion(request, app, form["client_assertion"])
            return "2"
        if form.get("client_secret"):
            if not self.backend.secret_matches(app, form["client_secret"]):
                raise EntraError(
                    401, "invalid_client", 7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                    f"secret value, not the client secret ID, for a secret added to app '{app.client_id}'.")
            return "1"
        raise EntraError(401, "invalid_client", 7000218,
                         "The request body must contain the following parameter: 'client_assertion' or "
                         "'client_secret'.")

    def _verify_assertion(self, request: Request, app: App, assertion: str) -> dict[str, Any]:
        """certificate-credentials.md: signed by the registered certificate (named by ``x5t`` or ``x5t#S256``),
        ``aud`` = the token endpoint, ``iss`` = ``sub`` = the client id, not expired."""
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise EntraError(400, "invalid_request", 50027, "JWT token is invalid or malformed.") from None
        # MSAL Python keeps the base64 padding (oauth2cli/assertion.py); RFC 7515 base64url has none: accept both.
        presented = str(header.get("x5t#S256") or header.get("x5t") or "").rstrip("=")
        thumbprint = _hex_thumbprint(presented)
        certificate = app.certificate
        if certificate is None or presented not in (certificate.x5t_s256, certificate.x5t):
            raise invalid_assertion("The key was not found.", thumbprint)
        audiences = [f"{request.base_url}/{tenant}/oauth2/v2.0/token"
                     for tenant in (self.sim.tenant_id, self.sim.tenant_domain)]
        try:
            claims = jwt.decode(assertion, certificate.certificate.public_key(), algorithms=["RS256", "PS256"],
                                audience=audiences, options={"require": ["exp", "aud", "iss", "sub"]})
        except jwt.ExpiredSignatureError:
            now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
            raise EntraError(401, "invalid_client", 700024,
                             f"Client assertion is not within its valid time range. Current time: {now}.") from None
        except jwt.InvalidSignatureError:
            raise invalid_assertion("The provided signature value did not match the expected signature value.",
                                    thumbprint) from None
        except jwt.InvalidAudienceError:
            raise EntraError(401, "invalid_client", 700027,
                             "Client assertion audience claim does not match Realm issuer.") from None
        except jwt.PyJWTError:
            raise EntraError(400, "invalid_request", 50027, "JWT token is invalid or malformed.") from None
        if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
            raise EntraError(401, "invalid_client", 700021,
                             "Client assertion application identifier doesn't match 'client_id' parameter.")
        return claims


def _hex_thumbprint(b64url: str) -> str:
    """How Entra quotes the presented thumbprint in its messages: upper-case hex."""
    try:
        return base64.urlsafe_b64decode(b64url + "=" * (-len(b64url) % 4)).hex().upper()
    except ValueError:
        return b64url


class ManagedIdentityResponses:
    """The App Service / Functions identity endpoint (overview-managed-identity.md, REST protocol,
    api-version 2019-08-01): GET IDENTITY_ENDPOINT?resource=…&api-version=…[&client_id|principal_id|mi_res_id]
    with the X-IDENTITY-HEADER header."""

    def __init__(self, backend: IdentityBackend) -> None:
        self.backend = backend
        self.sim = backend.sim

    def token(self, request: Request) -> Response:
        if request.headers.get("X-IDENTITY-HEADER") != self.sim.identity_header:
            # Not documented: only the host's own processes know the header; refuse anyone else.
            raise ManagedIdentityError(401, "The X-IDENTITY-HEADER header is missing or not valid.")
        if request.arg("api-version") != MSI_API_VERSION:
            raise ManagedIdentityError(400, f"Specified api-version is not supported; use {MSI_API_VERSION}.")
        resource = request.arg("resource")
        if not resource:
            raise ManagedIdentityError(400, "The resource parameter is required.")
        identity = self.backend.find_managed_identity(
            client_id=request.arg("client_id"),
            object_id=request.arg("principal_id") or request.arg("object_id"),  # MSAL sends object_id
            resource_id=request.arg("mi_res_id"))
        if identity is None:  # seen in Azure/azure-sdk-for-net#43691
            raise ManagedIdentityError(400, "Unable to load the proper Managed Identity.")
        audience = resource[: -len("/.default")] if resource.endswith("/.default") else resource
        if not self.backend.known_resource(audience):
            # MSAL Python's managed_identity.py: "wrong resource ends up with a vague statusCode=500".
            raise ManagedIdentityError(500, "An unexpected error occured while fetching the AAD Token.")
        token, expires_on = self.backend.managed_identity_token(identity, audience)
        return Response.json(200, {"access_token": token, "expires_on": str(expires_on), "resource": resource,
                                   "token_type": "Bearer", "client_id": identity.client_id})
