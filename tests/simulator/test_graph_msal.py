"""Tokens from the simulator's login service, fetched by real msal, are accepted or refused by Graph by role."""

from __future__ import annotations

import msal
import requests

from simulator.graph.models import PENDING_GUEST_ID
from tests.simulator.graph_session import Graph, error_of


def msal_token(sim, roles: list[str]) -> str:
    registered = sim.identity.add_app(roles=roles)
    app = msal.ConfidentialClientApplication(
        registered.client_id, client_credential=registered.secret,
        authority=f"{sim.authority_host}/{sim.tenant_id}", instance_discovery=False, azure_region=False,
        http_client=_trusting_session(sim))
    result = app.acquire_token_for_client(scopes=[f"{sim.graph_endpoint}/.default"])
    assert "access_token" in result, result.get("error")
    return result["access_token"]


def _trusting_session(sim) -> requests.Session:
    session = requests.Session()
    session.verify = str(sim.ca_path)
    session.trust_env = False  # REQUESTS_CA_BUNDLE from the environment would override verify
    return session


def test_msal_token_with_user_read_all_reads_users_but_cannot_invite(trust_sim):
    graph = Graph(trust_sim, msal_token(trust_sim, ["User.Read.All"]))
    assert graph.get(f"/users/{PENDING_GUEST_ID}").status_code == 200
    response = graph.post("/invitations", {"invitedUserEmailAddress": "m@fabrikam.example",
                                           "inviteRedirectUrl": "https://myapps.microsoft.com"})
    assert error_of(response) == (403, "Authorization_RequestDenied",
                                  "Insufficient privileges to complete the operation.")


def test_msal_token_without_roles_is_refused(trust_sim):
    graph = Graph(trust_sim, msal_token(trust_sim, []))
    assert error_of(graph.get("/users"))[:2] == (403, "Authorization_RequestDenied")
