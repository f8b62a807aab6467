"""Removal from a group, sponsors, disabling and deleting a guest, each with its least privileged permission
(MGDC group-delete-members.md, user-post-sponsors.md, user-update.md, user-delete.md)."""

from __future__ import annotations

import pytest

from simulator.graph.models import (
    ACCEPTED_GUEST_ID,
    DYNAMIC_GROUP_ID,
    MEMBER_USER_ID,
    PARTNERS_GROUP_ID,
    PENDING_GUEST_ID,
    PENDING_GUEST_MAIL,
    ROLE_ASSIGNABLE_GROUP_ID,
)
from tests.simulator.graph_session import error_of, graph_as

DENIED = (403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
NOT_FOUND = "Resource '{}' does not exist or one of its queried reference-property objects are not present."
UNKNOWN = "0b7d9f8e-0000-4000-8000-00000000dead"


def user_ref(user_id: str, kind: str = "users") -> dict:
    return {"@odata.id": f"https://graph.microsoft.com/v1.0/{kind}/{user_id}"}


# ---- DELETE /groups/{id}/members/{id}/$ref ---------------------------------------------------------------------
def test_removing_a_member_answers_204_and_a_non_member_404(sim):
    graph = graph_as(sim, ["GroupMember.ReadWrite.All"])
    assert graph.session.delete(f"{graph.base}/groups/{PARTNERS_GROUP_ID}/members/{ACCEPTED_GUEST_ID}/$ref",
                                verify=graph.verify, timeout=10).status_code == 204
    assert ACCEPTED_GUEST_ID not in sim.graph.members_of(PARTNERS_GROUP_ID)
    again = graph.session.delete(f"{graph.base}/groups/{PARTNERS_GROUP_ID}/members/{ACCEPTED_GUEST_ID}/$ref",
                                 verify=graph.verify, timeout=10)
    assert error_of(again) == (404, "Request_ResourceNotFound", NOT_FOUND.format(ACCEPTED_GUEST_ID))


def test_non_member_removal_can_answer_the_other_shape_seen(sim):
    sim.graph.not_member_answer = "removed-do-not-exist"
    graph = graph_as(sim)
    response = graph.session.delete(f"{graph.base}/groups/{PARTNERS_GROUP_ID}/members/{PENDING_GUEST_ID}/$ref",
                                    verify=graph.verify, timeout=10)
    assert error_of(response) == (400, "Request_BadRequest", "One or more removed object references do not exist "
                                  "for the following modified properties: 'members'.")


@pytest.mark.parametrize(("roles", "group", "expected"), [
    (["User.Read.All"], PARTNERS_GROUP_ID, 403),
    (["GroupMember.ReadWrite.All"], DYNAMIC_GROUP_ID, 403),
    (["GroupMember.ReadWrite.All"], ROLE_ASSIGNABLE_GROUP_ID, 403),
    (["GroupMember.ReadWrite.All", "RoleManagement.ReadWrite.Directory"], ROLE_ASSIGNABLE_GROUP_ID, 204),
])
def test_removal_needs_group_member_readwrite_and_more_for_special_groups(sim, roles, group, expected):
    graph = graph_as(sim, roles)
    member = ACCEPTED_GUEST_ID if group == PARTNERS_GROUP_ID else MEMBER_USER_ID
    response = graph.session.delete(f"{graph.base}/groups/{group}/members/{member}/$ref", verify=graph.verify,
                                    timeout=10)
    assert response.status_code == expected
    if expected == 403:
        assert error_of(response) == DENIED and member in sim.graph.members_of(group)


def test_removal_with_a_malformed_member_id_is_400(sim):
    graph = graph_as(sim)
    response = graph.session.delete(f"{graph.base}/groups/{PARTNERS_GROUP_ID}/members/not-a-guid/$ref",
                                    verify=graph.verify, timeout=10)
    assert error_of(response) == (400, "Request_BadRequest", "Invalid object identifier 'not-a-guid'.")


# ---- sponsors ------------------------------------------------------------------------------------------------
def test_a_sponsor_is_added_with_user_readwrite_all_and_listed(sim):
    graph = graph_as(sim, ["User.ReadWrite.All"])
    assert graph.post(f"/users/{PENDING_GUEST_ID}/sponsors/$ref", user_ref(MEMBER_USER_ID)).status_code == 204
    assert graph.post(f"/users/{PENDING_GUEST_ID}/sponsors/$ref",
                      user_ref(PARTNERS_GROUP_ID, "groups")).status_code == 204
    listed = graph.get(f"/users/{PENDING_GUEST_ID}/sponsors").json()["value"]
    assert [(s["@odata.type"], s["id"]) for s in listed] == [("#microsoft.graph.user", MEMBER_USER_ID),
                                                             ("#microsoft.graph.group", PARTNERS_GROUP_ID)]
    twice = graph.post(f"/users/{PENDING_GUEST_ID}/sponsors/$ref", user_ref(MEMBER_USER_ID))
    assert error_of(twice)[:2] == (400, "Request_BadRequest")


@pytest.mark.parametrize("roles", [["User.Invite.All", "User.Read.All", "GroupMember.ReadWrite.All"],
                                   ["Directory.ReadWrite.All"]])
def test_sponsors_need_user_readwrite_all(sim, roles):
    response = graph_as(sim, roles).post(f"/users/{PENDING_GUEST_ID}/sponsors/$ref", user_ref(MEMBER_USER_ID))
    assert error_of(response) == DENIED
    assert "sponsors" not in sim.graph.users[PENDING_GUEST_ID]


def test_unknown_sponsor_or_guest_is_404(sim):
    graph = graph_as(sim, ["User.ReadWrite.All"])
    assert error_of(graph.post(f"/users/{PENDING_GUEST_ID}/sponsors/$ref", user_ref(UNKNOWN)))[:2] == (
        404, "Request_ResourceNotFound")
    assert error_of(graph.post(f"/users/{UNKNOWN}/sponsors/$ref", user_ref(MEMBER_USER_ID)))[:2] == (
        404, "Request_ResourceNotFound")


# ---- PATCH /users/{id} accountEnabled ------------------------------------------------------------------------
@pytest.mark.parametrize(("roles", "expected"), [
    (["User.EnableDisableAccount.All", "User.Read.All"], 204),
    (["User.ReadWrite.All"], 204),
    (["User.EnableDisableAccount.All"], 403),  # needs User.Read.All as well
    (["User.Invite.All", "User.Read.All", "GroupMember.ReadWrite.All"], 403),
])
def test_disabling_a_guest_needs_enable_disable_with_user_read_all(sim, roles, expected):
    graph = graph_as(sim, roles)
    response = graph.patch(f"/users/{PENDING_GUEST_ID}", {"accountEnabled": False})
    assert response.status_code == expected
    assert sim.graph.users[PENDING_GUEST_ID]["accountEnabled"] is (expected != 204)
    if expected == 204:
        shown = graph.get(f"/users/{PENDING_GUEST_ID}", params={"$select": "accountEnabled"}).json()
        assert shown["accountEnabled"] is False


@pytest.mark.parametrize(("body", "status"), [({"accountEnabled": "no"}, 400), ({"jobTitle": "x"}, 400)])
def test_bad_user_updates_are_refused_and_change_nothing(sim, body, status):
    response = graph_as(sim, ["User.ReadWrite.All"]).patch(f"/users/{PENDING_GUEST_ID}", body)
    assert error_of(response)[:2] == (status, "Request_BadRequest")
    assert sim.graph.users[PENDING_GUEST_ID]["accountEnabled"] is True


# ---- DELETE /users/{id} --------------------------------------------------------------------------------------
def test_deleting_a_guest_needs_delete_restore_and_removes_it_everywhere(sim):
    graph = graph_as(sim, ["Directory.ReadWrite.All"])  # does not allow deleting users
    assert error_of(graph.session.delete(f"{graph.base}/users/{ACCEPTED_GUEST_ID}", verify=graph.verify,
                                         timeout=10)) == DENIED
    graph = graph_as(sim, ["User.DeleteRestore.All", "User.Read.All", "User.ReadWrite.All"])
    assert graph.post(f"/users/{PENDING_GUEST_ID}/sponsors/$ref", user_ref(ACCEPTED_GUEST_ID)).status_code == 204
    deleter = graph_as(sim, ["User.DeleteRestore.All"])
    assert deleter.session.delete(f"{deleter.base}/users/{ACCEPTED_GUEST_ID}", verify=deleter.verify,
                                  timeout=10).status_code == 204
    assert ACCEPTED_GUEST_ID not in sim.graph.members_of(PARTNERS_GROUP_ID)
    assert sim.graph.users[PENDING_GUEST_ID]["sponsors"] == []
    assert error_of(graph.get(f"/users/{ACCEPTED_GUEST_ID}"))[:2] == (404, "Request_ResourceNotFound")
    assert graph.get("/users", params={"$filter": "mail eq 'lee@northwind.example'"}).json()["value"] == []
    again = deleter.session.delete(f"{deleter.base}/users/{ACCEPTED_GUEST_ID}", verify=deleter.verify, timeout=10)
    assert error_of(again)[:2] == (404, "Request_ResourceNotFound")


def test_a_deleted_guest_can_be_invited_again_as_a_new_user(sim):
    graph = graph_as(sim, ["User.DeleteRestore.All", "User.Invite.All"])
    assert graph.session.delete(f"{graph.base}/users/{PENDING_GUEST_ID}", verify=graph.verify,
                                timeout=10).status_code == 204
    invited = graph.post("/invitations", {"invitedUserEmailAddress": PENDING_GUEST_MAIL,
                                          "inviteRedirectUrl": "https://myapps.microsoft.com"}).json()
    assert invited["invitedUser"]["id"] != PENDING_GUEST_ID
