"""The simulated identity platform and managed identity endpoint, through real msal / azure-identity over HTTP(S)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ManagedIdentityCredential
from cryptography.hazmat.primitives import serialization

from simulator import Simulator
from simulator.identity.models import DEFAULT_ROLES

ROOT = Path(__file__).resolve().parents[2]
ENTRA_ERROR_FIELDS = {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id",
                      "error_uri"}


# ---- helpers ---------------------------------------------------------------------------------------------------
def confidential_app(sim: Simulator, client_id: str, credential: str | dict, tenant: str | None = None
                     ) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        client_id, client_credential=credential, authority=f"{sim.authority_host}/{tenant or sim.tenant_id}",
        instance_discovery=False)


def pem_credential(app) -> dict[str, str]:
    pem = Path(app.certificate_path).read_text()
    return {"private_key": pem, "public_certificate": pem}


def claims_of(sim: Simulator, token: str, audience: str | None = None) -> dict:
    """Verify a token with the keys the simulator publishes at its jwks_uri, as a resource server would."""
    keys = requests.get(f"{sim.authority_host}/{sim.tenant_id}/discovery/v2.0/keys", verify=str(sim.ca_path),
                        timeout=10).json()["keys"]
    key = jwt.PyJWK(keys[0]).key
    return jwt.decode(token, key, algorithms=["RS256"], audience=audience or sim.graph_endpoint)


def post_token(sim: Simulator, form: dict, tenant: str | None = None) -> requests.Response:
    return requests.post(f"{sim.authority_host}/{tenant or sim.tenant_id}/oauth2/v2.0/token", data=form,
                         verify=str(sim.ca_path), timeout=10)


def assert_entra_error(response: requests.Response, status: int, error: str, code: int) -> dict:
    body = response.json()
    assert response.status_code == status
    assert set(body) == ENTRA_ERROR_FIELDS
    assert (body["error"], body["error_codes"]) == (error, [code])
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert f"\r\nTrace ID: {body['trace_id']}\r\nCorrelation ID: {body['correlation_id']}" in body["error_description"]
    return body


def secret_form(sim: Simulator, **overrides: str) -> dict[str, str]:
    app = sim.identity.default_app
    return {"grant_type": "client_credentials", "client_id": app.client_id, "client_secret": app.secret,
            "scope": f"{sim.graph_endpoint}/.default", **overrides}


def assertion_for(sim: Simulator, app, key_pem: bytes | None = None, **claims) -> str:
    key = serialization.load_pem_private_key(key_pem or Path(app.certificate_path).read_bytes(), None)
    now = int(time.time())
    body = {"aud": f"{sim.authority_host}/{sim.tenant_id}/oauth2/v2.0/token", "iss": app.client_id,
            "sub": app.client_id, "exp": now + 600, "iat": now, "jti": "j1", **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"x5t": app.certificate.x5t})


# ---- discovery -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tenant", ["id", "domain"])
def test_discovery_names_this_tenants_endpoints_by_tenant_id(sim, tenant):
    segment = sim.tenant_id if tenant == "id" else sim.tenant_domain.upper()
    response = requests.get(f"{sim.authority_host}/{segment}/v2.0/.well-known/openid-configuration",
                            verify=str(sim.ca_path), timeout=10)
    config = response.json()
    base = f"{sim.authority_host}/{sim.tenant_id}"
    assert response.status_code == 200
    assert config["token_endpoint"] == f"{base}/oauth2/v2.0/token"
    assert config["authorization_endpoint"] == f"{base}/oauth2/v2.0/authorize"
    assert config["jwks_uri"] == f"{base}/discovery/v2.0/keys"
    assert config["issuer"] == f"{base}/v2.0"
    assert "private_key_jwt" in config["token_endpoint_auth_methods_supported"]


def test_unknown_tenant_discovery_is_aadsts90002_invalid_tenant(sim):
    response = requests.get(f"{sim.authority_host}/fabrikam.onmicrosoft.com/v2.0/.well-known/openid-configuration",
                            verify=str(sim.ca_path), timeout=10)
    body = assert_entra_error(response, 400, "invalid_tenant", 90002)
    assert "Tenant 'fabrikam.onmicrosoft.com' not found." in body["error_description"]


def test_msal_with_unknown_tenant_fails_at_discovery_with_entra_body(trust_sim):
    with pytest.raises(ValueError, match="Unable to get authority configuration") as raised:
        confidential_app(trust_sim, trust_sim.identity.default_app.client_id, "x", tenant="unknown-tenant")
    cause = str(raised.value.__cause__ or raised.value.__context__)  # MSAL wraps the discovery answer
    assert "HTTP status: 400" in cause and '"error":"invalid_tenant"' in cause.replace(" ", "")
    assert "AADSTS90002" in cause


def test_token_endpoint_for_unknown_tenant_is_invalid_request_90002(sim):
    assert_entra_error(post_token(sim, secret_form(sim), tenant="11111111-2222-3333-4444-555555555555"),
                       400, "invalid_request", 90002)


# ---- client credentials: secret and certificate ---------------------------------------------------------------
def test_msal_secret_gets_app_token_with_granted_roles(trust_sim):
    sim = trust_sim
    app = sim.identity.default_app
    result = confidential_app(sim, app.client_id, app.secret).acquire_token_for_client(
        [f"{sim.graph_endpoint}/.default"])
    assert (result["token_type"], result["expires_in"], result["token_source"]) == ("Bearer", 3599,
                                                                                     "identity_provider")
    claims = claims_of(sim, result["access_token"])
    assert claims["roles"] == sorted(DEFAULT_ROLES)
    assert (claims["tid"], claims["appid"], claims["azp"], claims["oid"]) == (
        sim.tenant_id, app.client_id, app.client_id, app.object_id)
    assert (claims["iss"], claims["idtyp"], claims["ver"], claims["appidacr"]) == (
        f"https://sts.windows.net/{sim.tenant_id}/", "app", "1.0", "1")


@pytest.mark.parametrize("mode", ["pem with public certificate", "pfx", "pem with sha1 thumbprint"])
def test_msal_certificate_gets_app_token(trust_sim, mode):
    sim = trust_sim
    app = sim.identity.cert_app
    credential = {
        "pem with public certificate": lambda: pem_credential(app),  # PS256, x5t#S256
        "pfx": lambda: {"private_key_pfx_path": str(app.certificate_pfx_path),
                        "passphrase": app.certificate_password},
        "pem with sha1 thumbprint": lambda: {"private_key": Path(app.certificate_path).read_text(),
                                             "thumbprint": app.certificate_thumbprint},  # RS256, x5t
    }[mode]()
    result = confidential_app(sim, app.client_id, credential, tenant=sim.tenant_domain).acquire_token_for_client(
        ["https://graph.microsoft.com/.default"])
    claims = claims_of(sim, result["access_token"], audience="https://graph.microsoft.com")
    assert (claims["appid"], claims["appidacr"], claims["roles"]) == (app.client_id, "2", sorted(DEFAULT_ROLES))


def test_msal_reuses_its_token_so_the_tenant_sees_one_fetch_per_lifetime(trust_sim):
    sim = trust_sim
    app = sim.identity.default_app
    client = confidential_app(sim, app.client_id, app.secret)
    results = [client.acquire_token_for_client([f"{sim.graph_endpoint}/.default"]) for _ in range(3)]
    assert [r["token_source"] for r in results] == ["identity_provider", "cache", "cache"]
    assert sim.identity.token_requests[app.client_id] == 1
    assert sim.stats.count(service="login", route="token") == 1


def test_token_lifetime_is_configurable_and_short_lived_tokens_are_fetched_again(tmp_path, monkeypatch):
    with Simulator(token_lifetime=120) as sim:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_path))
        app = sim.identity.default_app
        client = confidential_app(sim, app.client_id, app.secret)
        first = client.acquire_token_for_client([f"{sim.graph_endpoint}/.default"])
        claims = claims_of(sim, first["access_token"])
        assert first["expires_in"] == first["ext_expires_in"] == 120
        assert claims["exp"] - claims["iat"] == 120
        # MSAL treats a token within 5 minutes of expiry as expired (application.py), so it asks again.
        second = client.acquire_token_for_client([f"{sim.graph_endpoint}/.default"])
        assert second["token_source"] == "identity_provider"
        assert sim.identity.token_requests[app.client_id] == 2


def test_revoked_roles_leave_the_token_and_no_roles_means_no_roles_claim(trust_sim):
    sim = trust_sim
    app = sim.identity.add_app("Bare app", roles=["User.Read.All"])
    sim.identity.revoke(app.client_id, "User.Read.All")
    result = confidential_app(sim, app.client_id, app.secret).acquire_token_for_client(
        [f"{sim.graph_endpoint}/.default"])
    assert "roles" not in claims_of(sim, result["access_token"])
    assert sim.identity.roles_of(app.client_id) == set()


def test_concurrent_token_requests_are_all_served_and_counted(sim):
    def fetch(_: int) -> int:
        return post_token(sim, secret_form(sim)).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(fetch, range(40)))
    assert statuses == [200] * 40
    assert sim.identity.token_requests[sim.identity.default_app.client_id] == 40
    assert sim.stats.count(service="login", route="token") == 40


# ---- client credentials: errors --------------------------------------------------------------------------------
def test_wrong_secret_is_401_invalid_client_7000215(trust_sim):
    sim = trust_sim
    app = sim.identity.default_app
    result = confidential_app(sim, app.client_id, "not-the-secret").acquire_token_for_client(
        [f"{sim.graph_endpoint}/.default"])
    assert (result["error"], result["error_codes"]) == ("invalid_client", [7000215])
    assert set(result) >= ENTRA_ERROR_FIELDS
    assert_entra_error(post_token(sim, secret_form(sim, client_secret="nope")), 401, "invalid_client", 7000215)
    assert sim.identity.token_requests[app.client_id] == 0


def test_unknown_client_is_400_unauthorized_client_700016(trust_sim):
    sim = trust_sim
    result = confidential_app(sim, "99999999-8888-7777-6666-555555555555", "x").acquire_token_for_client(
        [f"{sim.graph_endpoint}/.default"])
    assert (result["error"], result["error_codes"]) == ("unauthorized_client", [700016])
    body = assert_entra_error(post_token(sim, secret_form(sim, client_id="99999999-8888-7777-6666-555555555555")),
                              400, "unauthorized_client", 700016)
    assert "Application with identifier '99999999-8888-7777-6666-555555555555' was not found" in \
        body["error_description"]


@pytest.mark.parametrize(("scope", "code"), [("User.Read.All", 1002012),
                                             ("https://graph.microsoft.com/User.Read.All", 1002012),
                                             ("https://graph.microsoft.com/.default https://x.example/.default",
                                              70011)])
def test_scope_must_be_one_resource_default_scope(sim, scope, code):
    assert_entra_error(post_token(sim, secret_form(sim, scope=scope)), 400, "invalid_scope", code)


def test_unknown_resource_is_invalid_resource_500011(sim):
    assert_entra_error(post_token(sim, secret_form(sim, scope="https://unknown.example/.default")),
                       400, "invalid_resource", 500011)


@pytest.mark.parametrize(("form", "status", "error", "code"), [
    ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
    ({"grant_type": ""}, 400, "invalid_request", 900144),
    ({"client_secret": ""}, 401, "invalid_client", 7000218),
])
def test_malformed_token_requests_get_their_aadsts_codes(sim, form, status, error, code):
    assert_entra_error(post_token(sim, secret_form(sim, **form)), status, error, code)


def test_assertion_signed_by_an_unregistered_key_is_700027(sim):
    app = sim.identity.cert_app
    other = sim.identity.add_app("Other", secret=False, certificate=True)
    forged = assertion_for(sim, app, key_pem=Path(other.certificate_path).read_bytes())
    form = {"grant_type": "client_credentials", "client_id": app.client_id, "scope": "https://graph.microsoft.com/.default",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": forged}
    body = assert_entra_error(post_token(sim, form), 401, "invalid_client", 700027)
    assert "did not match" in body["error_description"]


@pytest.mark.parametrize(("claims", "code"), [({"exp": int(time.time()) - 60}, 700024),
                                              ({"aud": "https://login.microsoftonline.com/x/oauth2/v2.0/token"},
                                               700027),
                                              ({"iss": "someone-else", "sub": "someone-else"}, 700021)])
def test_assertion_must_be_current_for_this_endpoint_and_this_client(sim, claims, code):
    app = sim.identity.cert_app
    form = {"grant_type": "client_credentials", "client_id": app.client_id, "scope": "https://graph.microsoft.com/.default",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion_for(sim, app, **claims)}
    assert_entra_error(post_token(sim, form), 401, "invalid_client", code)
    good = dict(form, client_assertion=assertion_for(sim, app))
    assert post_token(sim, good).status_code == 200


# ---- managed identity ------------------------------------------------------------------------------------------
@pytest.fixture
def app_service_env(sim, monkeypatch):
    """The two variables the Functions host sets when the app has a managed identity."""
    for name in ("IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", sim.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", sim.identity_header)
    return sim


@pytest.mark.parametrize("kind", ["system", "user"])
def test_managed_identity_credential_gets_token_for_its_identity(app_service_env, kind):
    sim = app_service_env
    identity = sim.identity.system_identity if kind == "system" else sim.identity.user_identity
    credential = ManagedIdentityCredential() if kind == "system" else ManagedIdentityCredential(
        client_id=identity.client_id)
    token = credential.get_token(f"{sim.graph_endpoint}/.default")
    claims = claims_of(sim, token.token)
    assert (claims["appid"], claims["oid"], claims["roles"]) == (identity.client_id, identity.object_id,
                                                                 sorted(DEFAULT_ROLES))
    assert token.expires_on == claims["exp"]
    assert sim.stats.count(service="msi", route="msi-token") == 1


def test_identity_endpoint_answers_as_app_service_does(sim):
    identity = sim.identity.user_identity
    response = requests.get(sim.identity_endpoint, headers={"X-IDENTITY-HEADER": sim.identity_header}, timeout=10,
                            params={"api-version": "2019-08-01", "resource": "https://graph.microsoft.com",
                                    "mi_res_id": identity.resource_id})
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert (body["resource"], body["token_type"], body["client_id"]) == ("https://graph.microsoft.com", "Bearer",
                                                                         identity.client_id)
    assert isinstance(body["expires_on"], str) and body["expires_on"].isdigit()


@pytest.mark.parametrize(("headers", "params", "status", "message"), [
    ({}, {}, 401, "X-IDENTITY-HEADER"),
    ({"X-IDENTITY-HEADER": "wrong"}, {}, 401, "X-IDENTITY-HEADER"),
    (None, {"client_id": "00000000-1111-2222-3333-444444444444"}, 400, "Unable to load the proper Managed Identity."),
    (None, {"api-version": "2017-09-01"}, 400, "api-version"),
])
def test_identity_endpoint_refuses_bad_requests(sim, headers, params, status, message):
    headers = {"X-IDENTITY-HEADER": sim.identity_header} if headers is None else headers
    response = requests.get(sim.identity_endpoint, headers=headers, timeout=10,
                            params={"api-version": "2019-08-01", "resource": sim.graph_endpoint, **params})
    body = response.json()
    assert response.status_code == status
    assert (body["statusCode"], set(body)) == (status, {"statusCode", "message", "correlationId"})
    assert message in body["message"]
    assert sim.identity.token_requests.total() == 0


def test_managed_identity_credential_with_wrong_header_gets_no_token(app_service_env, monkeypatch):
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-header")
    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential().get_token(f"{app_service_env.graph_endpoint}/.default")
    assert app_service_env.identity.token_requests.total() == 0


# ---- seeds, Graph, command line --------------------------------------------------------------------------------
def test_seed_file_defines_apps_and_identities(tmp_path, monkeypatch):
    seed = {"identity": {"apps": [{"name": "reader", "client_id": "0a0a0a0a-0000-4000-8000-000000000001",
                                   "secret": "a-simulator-secret", "roles": ["User.Read.All"]}],
                         "managed_identities": [{"user_assigned": True, "roles": []}]}}
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    with Simulator(seed=path) as sim:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_path))
        result = confidential_app(sim, sim.identity.reader.client_id, "a-simulator-secret").acquire_token_for_client(
            [f"{sim.graph_endpoint}/.default"])
        assert claims_of(sim, result["access_token"])["roles"] == ["User.Read.All"]
        assert sim.identity.system_assigned() is None
        assert len(sim.identity.managed_identities) == 1


def test_graph_accepts_or_refuses_msal_tokens_by_granted_role(trust_sim):
    sim = trust_sim
    app = sim.identity.default_app
    client = confidential_app(sim, app.client_id, app.secret)

    def list_users() -> int:
        token = client.acquire_token_for_client([f"{sim.graph_endpoint}/.default"])["access_token"]
        return requests.get(f"{sim.graph_endpoint}/v1.0/users", headers={"Authorization": f"Bearer {token}"},
                            timeout=10).status_code

    assert list_users() == 200
    sim.identity.revoke(app.client_id, "User.Read.All")
    client.remove_tokens_for_client()  # a new token is what carries the new grants
    assert list_users() == 403


def test_command_line_starts_and_prints_urls_and_env_without_secrets():
    process = subprocess.Popen([sys.executable, "-m", "simulator", "--port", "0"], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    killer = threading.Timer(30, process.kill)  # never hang the suite
    killer.start()
    try:
        lines = []
        while not any(line.startswith("Identity:") for line in lines):
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
    finally:
        process.terminate()
        process.wait(timeout=10)
        killer.cancel()
    output = "\n".join(lines)
    assert "AZURE_AUTHORITY_HOST=https://localhost:" in output
    assert "GRAPH_ENDPOINT=https://localhost:" in output
    assert "IDENTITY_ENDPOINT=http://localhost:" in output and "/msi/token" in output
    assert "REQUESTS_CA_BUNDLE=" in output and "ca.pem" in output
    assert "AZURE_CLIENT_SECRET=" not in output and "IDENTITY_HEADER=" not in output
    assert "3f1e6b2a-8c4d-4e5f-9a6b-1c2d3e4f5a01" in output  # the default app's client id
