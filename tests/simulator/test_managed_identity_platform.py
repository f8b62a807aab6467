"""The App Service managed identity endpoint when the platform misbehaves (issue 13 items 9 and 10), through the real
azure-identity ManagedIdentityCredential: 5xx and 429 answers, and tokens the platform keeps cached for hours."""

from __future__ import annotations

import jwt
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError, ManagedIdentityCredential

from simulator import Simulator

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def app_service(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    """The two variables the Functions host sets when the app has a managed identity."""
    for name in ("IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", sim.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", sim.identity_header)
    return sim


def roles_in(token: str) -> list[str]:
    return jwt.decode(token, options={"verify_signature": False}).get("roles", [])


def fast_retries() -> ManagedIdentityCredential:
    # azure-core's RetryPolicy retries 429/5xx by itself (10 tries, exponential backoff): fewer and shorter here,
    # the exception at the end is the same.
    return ManagedIdentityCredential(retry_total=2, retry_backoff_factor=0.01)


# ---- item 9: 5xx and 429 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "message"), [
    (500, "An unexpected error occured while fetching the AAD Token."),
    (502, "The managed identity service is temporarily unavailable."),
    (503, "The managed identity service is temporarily unavailable."),
    (504, "The managed identity service is temporarily unavailable."),
    (429, "Too many requests. Please retry later."),
])
def test_platform_failures_answer_app_services_error_body(sim, status, message):
    sim.faults.add(service="msi", status=status, retry_after=7 if status in (429, 503) else None)
    response = requests.get(sim.identity_endpoint, headers={"X-IDENTITY-HEADER": sim.identity_header}, timeout=10,
                            params={"api-version": "2019-08-01", "resource": "https://graph.microsoft.com"})
    body = response.json()
    assert response.status_code == status and set(body) == {"statusCode", "message", "correlationId"}
    assert (body["statusCode"], body["message"]) == (status, message)
    assert response.headers["X-CORRELATION-ID"] == body["correlationId"]
    assert response.headers.get("Retry-After") == ("7" if status in (429, 503) else None)
    assert sim.identity.token_requests.total() == 0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_managed_identity_credential_turns_a_platform_failure_into_credential_unavailable(sim, monkeypatch, status):
    app_service(sim, monkeypatch)
    sim.faults.add(service="msi", status=status)
    with pytest.raises(CredentialUnavailableError) as raised:
        fast_retries().get_token(GRAPH_SCOPE)
    # The status reaches the caller only inside the message; there is no response object to read it from.
    assert f"(invalid_scope) {status}, " in raised.value.message and raised.value.response is None
    assert isinstance(raised.value, ClientAuthenticationError)
    assert sim.stats.count(service="msi", route="msi-token") == 3  # the first try and azure-core's 2 retries


def test_an_empty_json_500_reaches_the_caller_as_a_json_error(sim, monkeypatch):
    # Azure/Azure-Functions#2392: a 500 with Content-Type application/json and no content.
    app_service(sim, monkeypatch)
    sim.faults.add(service="msi", status=500, body=b"", content_type="application/json; charset=utf-8")
    with pytest.raises(ValueError, match="Expecting value"):
        fast_retries().get_token(GRAPH_SCOPE)


def test_one_platform_failure_is_retried_by_azure_core_and_never_seen(sim, monkeypatch):
    app_service(sim, monkeypatch)
    sim.faults.add(service="msi", status=503, times=1)
    token = ManagedIdentityCredential().get_token(GRAPH_SCOPE)  # the default retry policy, as the app uses it
    assert token.token and sim.stats.count(service="msi", route="msi-token") == 2


# ---- item 10: the platform's token cache -------------------------------------------------------------------------
def test_roles_granted_after_the_first_token_show_only_once_the_platform_cache_expires(monkeypatch):
    with Simulator(mi_token_cache=86_400) as sim:
        app_service(sim, monkeypatch)
        identity = sim.identity.system_identity
        first = ManagedIdentityCredential().get_token(GRAPH_SCOPE).token
        sim.identity.grant(identity.client_id, "User.ReadWrite.All")
        sim.clock.advance(3 * 3600)
        again = ManagedIdentityCredential().get_token(GRAPH_SCOPE).token  # a new credential: no client-side cache
        assert again == first and "User.ReadWrite.All" not in roles_in(again)
        sim.clock.advance(21 * 3600 + 1)
        fresh = ManagedIdentityCredential().get_token(GRAPH_SCOPE).token
        assert fresh != first and "User.ReadWrite.All" in roles_in(fresh)
        assert sim.stats.count(service="msi", route="msi-token") == 3
        assert sim.identity.token_requests[identity.client_id] == 2


def test_the_cache_is_per_identity_and_resource_and_keeps_old_roles_past_a_tokens_expiry(monkeypatch):
    with Simulator(mi_token_cache=86_400, token_lifetime=200) as sim:
        app_service(sim, monkeypatch)
        system, user = sim.identity.system_identity, sim.identity.user_identity
        ManagedIdentityCredential().get_token(GRAPH_SCOPE)
        for identity in (system, user):
            sim.identity.revoke(identity.client_id, "User.Invite.All")
        # The cached token is within 5 minutes of expiry: a new one is issued, with the roles the cache holds.
        renewed = ManagedIdentityCredential().get_token(GRAPH_SCOPE).token
        assert "User.Invite.All" in roles_in(renewed)
        other = ManagedIdentityCredential(client_id=user.client_id).get_token(GRAPH_SCOPE).token
        assert "User.Invite.All" not in roles_in(other)  # first token for that identity: current roles
        sim.identity.clear_mi_token_cache()
        assert "User.Invite.All" not in roles_in(ManagedIdentityCredential().get_token(GRAPH_SCOPE).token)


def test_without_the_cache_option_grants_show_in_the_next_token(sim, monkeypatch):
    app_service(sim, monkeypatch)
    identity = sim.identity.system_identity
    ManagedIdentityCredential().get_token(GRAPH_SCOPE)
    sim.identity.grant(identity.client_id, "User.ReadWrite.All")
    assert "User.ReadWrite.All" in roles_in(ManagedIdentityCredential().get_token(GRAPH_SCOPE).token)
