"""The identity services' routing tables: login (HTTPS, the authority host) and the managed identity endpoint."""

from __future__ import annotations

from ..server import Route
from .models import IdentityBackend
from .responses import LoginResponses, ManagedIdentityResponses

TENANT = r"/(?P<tenant>[^/]+)"


def login_routes(backend: IdentityBackend) -> list[Route]:
    login = LoginResponses(backend)
    return [
        Route("GET", TENANT + r"/v2\.0/\.well-known/openid-configuration", login.openid_configuration,
              "openid-configuration"),
        Route("GET", TENANT + r"/discovery/v2\.0/keys", login.keys, "keys"),
        Route("POST", TENANT + r"/oauth2/v2\.0/token", login.token, "token"),
    ]


def msi_routes(backend: IdentityBackend) -> list[Route]:
    # A trailing slash is tolerated: clients that join paths may add one.
    return [Route("GET", r"/msi/token/?", ManagedIdentityResponses(backend).token, "msi-token")]
