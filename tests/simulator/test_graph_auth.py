"""Graph checks the bearer token on every route: 401 InvalidAuthenticationToken, 403 for missing app roles."""

from __future__ import annotations

import pytest

from simulator.graph.models import PARTNERS_GROUP_ID
from simulator.tokens import TokenIssuer
from tests.simulator.graph_session import APP_ID, Graph, error_of, graph_as, mint

INVITE = {"invitedUserEmailAddress": "new.person@tailspin.example", "inviteRedirectUrl": "https://myapps.microsoft.com"}


def test_missing_token_is_401_with_graph_body_and_www_authenticate(sim):
    response = Graph(sim, None).get("/users")
    assert error_of(response) == (401, "InvalidAuthenticationToken", "Access token is empty.")
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="", authorization_uri="')
    assert 'client_id="00000003-0000-0000-c000-000000000000"' in response.headers["WWW-Authenticate"]


def test_malformed_token_is_401(sim):
    response = Graph(sim, "not-a-jwt").get("/users")
    assert error_of(response) == (401, "InvalidAuthenticationToken",
                                  "CompactToken parsing failed with error code: 80049217")


def test_expired_token_is_401(sim):
    response = Graph(sim, mint(sim, ["User.Read.All"], lifetime=-60)).get("/users")
    assert error_of(response) == (401, "InvalidAuthenticationToken",
                                  "Lifetime validation failed, the token is expired.")


def test_token_for_another_audience_is_401(sim):
    response = Graph(sim, mint(sim, ["User.Read.All"], aud="https://management.azure.com")).get("/users")
    assert error_of(response) == (401, "InvalidAuthenticationToken",
                                  "Access token validation failure. Invalid audience.")


def test_token_signed_by_another_key_is_401(sim):
    forged = TokenIssuer().issue({"aud": sim.graph_endpoint, "tid": sim.tenant_id, "appid": APP_ID,
                                  "roles": ["User.Read.All"]}, lifetime=600)
    status, code, _ = error_of(Graph(sim, forged).get("/users"))
    assert (status, code) == (401, "InvalidAuthenticationToken")


def test_token_from_another_tenant_is_401(sim):
    response = Graph(sim, mint(sim, ["User.Read.All"], tid="11111111-2222-3333-4444-555555555555")).get("/users")
    assert error_of(response)[:2] == (401, "InvalidAuthenticationToken")


@pytest.mark.parametrize("audience", ["https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"])
def test_graph_audience_aliases_are_accepted(sim, audience):
    assert Graph(sim, mint(sim, ["User.Read.All"], aud=audience)).get("/users").status_code == 200


@pytest.mark.parametrize(("roles", "method", "path", "body"), [
    (["User.Read.All"], "post", "/invitations", INVITE),
    (["User.Invite.All"], "get", "/users", None),
    ([], "get", "/users", None),
    (["User.Read.All", "GroupMember.Read.All"], "post", f"/groups/{PARTNERS_GROUP_ID}/members/$ref",
     {"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/2c6f1dab-0000-4000-8000-000000000001"}),
    (["User.Read.All"], "get", f"/groups/{PARTNERS_GROUP_ID}/members", None),
])
def test_missing_app_role_is_403_insufficient_privileges(sim, roles, method, path, body):
    graph = graph_as(sim, roles)
    response = getattr(graph, method)(path, body) if body is not None else getattr(graph, method)(path)
    assert error_of(response) == (403, "Authorization_RequestDenied",
                                  "Insufficient privileges to complete the operation.")
    assert sim.graph.invitations == [] and sim.graph.emails == []


@pytest.mark.parametrize("role", ["User.Invite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"])
def test_invitation_accepts_the_documented_roles(sim, role):
    assert graph_as(sim, [role]).post("/invitations", INVITE).status_code == 201


@pytest.mark.parametrize("role", ["GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"])
def test_reading_members_accepts_the_documented_roles(sim, role):
    assert graph_as(sim, [role]).get(f"/groups/{PARTNERS_GROUP_ID}/members").status_code == 200


def test_client_request_id_is_echoed_in_header_and_body(sim):
    response = Graph(sim, None).get("/users", headers={"client-request-id": "abc-123"})
    assert response.headers["client-request-id"] == "abc-123"
    assert response.json()["error"]["innerError"]["client-request-id"] == "abc-123"
