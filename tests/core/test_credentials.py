"""The real token flows: MSAL with a secret, a PEM or a PFX certificate; azure-identity managed identity, system- or
user-assigned. One token and one Graph connection serve many invocations; expiring or rejected tokens are
replaced; only the authority host is called."""

from __future__ import annotations

import sys
import time

import pytest

from shared import runtime
from simulator import Simulator

from .conftest import AppHarness

USERS = r"/v1\.0/users$"


@pytest.mark.parametrize("mode", ["secret", "pem", "pfx", "system", "user"])
def test_each_credential_mode_gets_a_token_and_invites(app, mode):
    app.configure(mode)
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": ["1b5e0c9a-0000-4000-8000-000000000001"]})
    assert answer.status == 201
    assert app.deliver(answer.messages[0]) is None
    assert app.token_fetches() == 1
    expected = {"secret": app.sim.identity.default_app, "pem": app.sim.identity.cert_app,
                "pfx": app.sim.identity.cert_app, "system": app.sim.identity.system_identity,
                "user": app.sim.identity.user_identity}[mode]
    assert app.sim.identity.token_requests[expected.client_id] == 1


@pytest.mark.parametrize("mode", ["secret", "pem"])
def test_msal_calls_no_host_but_the_authority_host(app, mode):
    app.configure(mode)
    app.invite({"email": "alice@fabrikam.com"})
    routes = sorted(r.route for r in app.sim.stats.requests if r.service == "login")
    assert routes == ["openid-configuration", "token"]  # no instance discovery at login.microsoftonline.com


def test_many_invocations_share_one_token_fetch_and_one_connection(app):
    for index in range(50):
        email = "adele@fabrikam.com" if index % 2 else f"guest{index}@fabrikam.com"
        assert app.invite({"email": email}).status in (200, 201)
    for index in range(10):
        assert app.deliver({"userId": "2c6f1dab-0000-4000-8000-000000000002",
                            "groupId": app.sim.graph.add_group(f"g{index}")["id"]}) is None
    assert app.token_fetches() == 1
    assert app.sim.stats.connections["graph"] == 1
    assert app.sim.stats.count(service="graph") == 50 + 25 + 2 * 10  # each membership: the user's read, the add


def test_managed_identity_is_imported_only_in_that_mode(app):
    app.configure("secret")
    sys.modules.pop("azure.identity", None)
    app.invite({"email": "adele@fabrikam.com"})
    assert "azure.identity" not in sys.modules


@pytest.fixture
def short_lived(monkeypatch: pytest.MonkeyPatch, azurite: str):
    """A tenant whose tokens live 2 minutes: MSAL never serves a token that expires within 5 minutes."""
    with Simulator(token_lifetime=120) as sim:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_path))
        yield AppHarness(sim, monkeypatch, azurite)
    runtime.reset()


def test_an_expiring_msal_token_is_replaced_before_graph_rejects_it(short_lived):
    app = short_lived.configure("secret")
    for _ in range(3):
        assert app.invite({"email": "adele@fabrikam.com"}).status == 200
    assert app.token_fetches() == 3
    assert app.sim.stats.count(service="graph", path=USERS) == 3  # no 401 on the way


def test_an_expired_managed_identity_token_is_fetched_again(monkeypatch, azurite):
    with Simulator(token_lifetime=2) as sim:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_path))
        app = AppHarness(sim, monkeypatch, azurite).configure("system")
        try:
            assert app.invite({"email": "adele@fabrikam.com"}).status == 200
            time.sleep(2.5)  # past the token's expiry (azure-identity judges expiry by the real clock)
            assert app.invite({"email": "adele@fabrikam.com"}).status == 200
            assert app.token_fetches() == 2
        finally:
            runtime.reset()


def test_a_refused_secret_is_a_502_naming_the_identity_platform_error(app):
    app.configure("secret", AZURE_CLIENT_SECRET="wrong-secret")
    answer = app.invite({"email": "alice@fabrikam.com"})
    assert answer.status == 502
    assert answer.body["type"].endswith(":credential-refused")
    assert answer.body["credentialError"]["code"] == "invalid_client"
    assert "wrong-secret" not in str(answer.body)
    assert app.sim.stats.count(service="graph") == 0


def test_an_unreachable_authority_is_a_503_and_recovers_on_the_next_call(app):
    app.configure("secret", AZURE_AUTHORITY_HOST="https://localhost:9")
    answer = app.invite({"email": "alice@fabrikam.com"})
    assert answer.status == 503 and "Retry-After" in answer.headers
    assert answer.body["type"].endswith(":identity-unavailable")
    app.monkeypatch.setenv("AZURE_AUTHORITY_HOST", app.sim.authority_host)
    runtime.reset(timing=runtime.timing())  # settings are read once per process: an operator's fix restarts it
    assert app.invite({"email": "alice@fabrikam.com"}).status == 201
