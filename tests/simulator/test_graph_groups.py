"""Groups: GET, members (paged), POST members/$ref, PATCH members@odata.bind, replication lag, write budget."""

from __future__ import annotations

import pytest

from simulator.graph.models import (
    ACCEPTED_GUEST_ID,
    DYNAMIC_GROUP_ID,
    FALCON_GROUP_ID,
    FINANCE_GROUP_ID,
    MEMBER_USER_ID,
    PARTNERS_GROUP_ID,
    PENDING_GUEST_ID,
)
from simulator.graph.throttling import Budget
from tests.simulator.graph_session import error_of, graph_as

NOT_FOUND = "Resource '{}' does not exist or one of its queried reference-property objects are not present."
UNKNOWN = "0b7d9f8e-0000-4000-8000-00000000dead"


def ref(user_id: str, base: str = "https://graph.microsoft.com") -> dict:
    return {"@odata.id": f"{base}/v1.0/directoryObjects/{user_id}"}


def test_get_group(sim):
    response = graph_as(sim, ["GroupMember.Read.All"]).get(f"/groups/{PARTNERS_GROUP_ID}")
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["displayName"]) == (PARTNERS_GROUP_ID, "Partners")


def test_unknown_and_malformed_group_ids(sim):
    graph = graph_as(sim)
    assert error_of(graph.get(f"/groups/{UNKNOWN}")) == (404, "Request_ResourceNotFound", NOT_FOUND.format(UNKNOWN))
    assert error_of(graph.post("/groups/not-a-guid/members/$ref", ref(PENDING_GUEST_ID))) == (
        400, "Request_BadRequest", "Invalid object identifier 'not-a-guid'.")


def test_add_member_answers_204_and_lists_the_member(sim):
    graph = graph_as(sim, ["GroupMember.ReadWrite.All", "GroupMember.Read.All"])
    response = graph.post(f"/groups/{FALCON_GROUP_ID}/members/$ref", ref(PENDING_GUEST_ID))
    assert response.status_code == 204 and response.content == b"" and response.headers["request-id"]
    assert PENDING_GUEST_ID in sim.graph.members_of(FALCON_GROUP_ID)
    members = graph.get(f"/groups/{FALCON_GROUP_ID}/members").json()
    assert [m["id"] for m in members["value"]] == [MEMBER_USER_ID, PENDING_GUEST_ID]
    assert {m["@odata.type"] for m in members["value"]} == {"#microsoft.graph.user"}
    assert sim.graph.member_add_attempts[(FALCON_GROUP_ID, PENDING_GUEST_ID)] == 1


def test_simulator_base_url_is_accepted_in_odata_id(sim):
    response = graph_as(sim).post(f"/groups/{FALCON_GROUP_ID}/members/$ref", ref(PENDING_GUEST_ID, sim.graph_endpoint))
    assert response.status_code == 204


def test_foreign_host_in_odata_id_is_400(sim):
    response = graph_as(sim).post(f"/groups/{FALCON_GROUP_ID}/members/$ref", ref(PENDING_GUEST_ID, "https://evil.example"))
    assert error_of(response)[:2] == (400, "Request_BadRequest")


def test_existing_member_is_400_and_counted(sim):
    graph = graph_as(sim)
    response = graph.post(f"/groups/{PARTNERS_GROUP_ID}/members/$ref", ref(ACCEPTED_GUEST_ID))
    assert error_of(response) == (400, "Request_BadRequest", "One or more added object references already exist for "
                                  "the following modified properties: 'members'.")
    assert sim.graph.member_add_attempts[(PARTNERS_GROUP_ID, ACCEPTED_GUEST_ID)] == 1
    assert sim.graph.members_of(PARTNERS_GROUP_ID) == [ACCEPTED_GUEST_ID]


def test_unknown_user_is_404(sim):
    response = graph_as(sim).post(f"/groups/{PARTNERS_GROUP_ID}/members/$ref", ref(UNKNOWN))
    assert error_of(response) == (404, "Request_ResourceNotFound", NOT_FOUND.format(UNKNOWN))


def test_malformed_user_id_is_400(sim):
    response = graph_as(sim).post(f"/groups/{PARTNERS_GROUP_ID}/members/$ref", ref("bob"))
    assert error_of(response) == (400, "Request_BadRequest", "Invalid object identifier 'bob'.")


def test_group_forbidding_guests_is_403(sim):
    response = graph_as(sim).post(f"/groups/{FINANCE_GROUP_ID}/members/$ref", ref(PENDING_GUEST_ID))
    assert error_of(response) == (403, "Authorization_RequestDenied",
                                  "Guests users are not allowed to join this Unified Group due to policy setting.")
    assert PENDING_GUEST_ID not in sim.graph.members_of(FINANCE_GROUP_ID)


def test_dynamic_group_refuses_manual_members(sim):
    response = graph_as(sim).post(f"/groups/{DYNAMIC_GROUP_ID}/members/$ref", ref(PENDING_GUEST_ID))
    assert error_of(response) == (403, "Authorization_RequestDenied",
                                  "Insufficient privileges to complete the operation.")


def test_invited_guest_is_404_to_membership_until_replicated(sim):
    sim.replication_lag = 60
    graph = graph_as(sim)
    invited = graph.post("/invitations", {"invitedUserEmailAddress": "new@fabrikam.example",
                                          "inviteRedirectUrl": "https://myapps.microsoft.com"}).json()
    user_id = invited["invitedUser"]["id"]
    assert graph.get("/users", params={"$filter": "mail eq 'new@fabrikam.example'"}).json()["value"]
    response = graph.post(f"/groups/{PARTNERS_GROUP_ID}/members/$ref", ref(user_id))
    assert error_of(response) == (404, "Request_ResourceNotFound", NOT_FOUND.format(user_id))
    sim.clock.advance(61)
    assert graph.post(f"/groups/{PARTNERS_GROUP_ID}/members/$ref", ref(user_id)).status_code == 204
    assert sim.graph.member_add_attempts[(PARTNERS_GROUP_ID, user_id)] == 2


def test_members_are_paged(sim):
    for i in range(5):
        user = sim.graph.add_user(f"m{i}@fabrikam.example", user_type="Guest")
        sim.graph.groups[PARTNERS_GROUP_ID].members.append(user["id"])
    graph = graph_as(sim)
    first = graph.get(f"/groups/{PARTNERS_GROUP_ID}/members", params={"$top": "4"}).json()
    assert len(first["value"]) == 4 and first["@odata.context"].endswith("/v1.0/$metadata#directoryObjects")
    second = graph.session.get(first["@odata.nextLink"], verify=graph.verify, timeout=10).json()
    assert len(second["value"]) == 2 and "@odata.nextLink" not in second


def test_patch_binds_up_to_twenty_members(sim):
    users = [sim.graph.add_user(f"b{i}@fabrikam.example", user_type="Guest")["id"] for i in range(3)]
    body = {"members@odata.bind": [ref(u)["@odata.id"] for u in users]}
    assert graph_as(sim).patch(f"/groups/{PARTNERS_GROUP_ID}", body).status_code == 204
    assert sim.graph.members_of(PARTNERS_GROUP_ID) == [ACCEPTED_GUEST_ID, *users]


def test_patch_is_all_or_nothing_when_one_is_already_a_member(sim):
    fresh = sim.graph.add_user("c@fabrikam.example", user_type="Guest")["id"]
    body = {"members@odata.bind": [ref(fresh)["@odata.id"], ref(ACCEPTED_GUEST_ID)["@odata.id"]]}
    response = graph_as(sim).patch(f"/groups/{PARTNERS_GROUP_ID}", body)
    assert error_of(response)[:2] == (400, "Request_BadRequest")
    assert sim.graph.members_of(PARTNERS_GROUP_ID) == [ACCEPTED_GUEST_ID]


def test_patch_with_more_than_twenty_is_refused(sim):
    users = [sim.graph.add_user(f"d{i}@fabrikam.example", user_type="Guest")["id"] for i in range(21)]
    body = {"members@odata.bind": [ref(u)["@odata.id"] for u in users]}
    assert error_of(graph_as(sim).patch(f"/groups/{PARTNERS_GROUP_ID}", body))[:2] == (400, "Request_BadRequest")
    assert sim.graph.members_of(PARTNERS_GROUP_ID) == [ACCEPTED_GUEST_ID]


def test_member_writes_spend_the_app_write_budget(sim):
    sim.graph.limits["directory_writes"] = Budget(1, 150.0)
    graph = graph_as(sim)
    assert graph.post(f"/groups/{FALCON_GROUP_ID}/members/$ref", ref(PENDING_GUEST_ID)).status_code == 204
    response = graph.post(f"/groups/{PARTNERS_GROUP_ID}/members/$ref", ref(PENDING_GUEST_ID))
    assert error_of(response) == (429, "TooManyRequests", "Please retry again later.")
    assert int(response.headers["Retry-After"]) >= 1
    other_app = graph_as(sim, appid="9a9a9a9a-0000-4000-8000-000000000000")
    assert other_app.post(f"/groups/{PARTNERS_GROUP_ID}/members/$ref", ref(PENDING_GUEST_ID)).status_code == 204


@pytest.mark.parametrize("status", [503, 504])
def test_injected_faults_render_graph_errors(sim, status):
    sim.faults.add(service="graph", method="POST", path=r"/members/\$ref$", status=status, retry_after=3, times=1)
    graph = graph_as(sim)
    response = graph.post(f"/groups/{FALCON_GROUP_ID}/members/$ref", ref(PENDING_GUEST_ID))
    assert response.status_code == status and response.headers["Retry-After"] == "3"
    assert graph.post(f"/groups/{FALCON_GROUP_ID}/members/$ref", ref(PENDING_GUEST_ID)).status_code == 204
