"""Graph answers as production gives them (issue 13 items 8, 12, 13, dynamic and role-assignable groups; issue 19's
repeat invitations; issue 17's indexed lookups), each through real HTTPS to the simulator."""

from __future__ import annotations

import pytest

from simulator import Simulator
from simulator.graph.models import (
    DYNAMIC_GROUP_ID,
    PARTNERS_GROUP_ID,
    PENDING_GUEST_ID,
    PENDING_GUEST_MAIL,
    ROLE_ASSIGNABLE_GROUP_ID,
)
from simulator.graph.throttling import Budget
from tests.simulator.graph_session import error_of, graph_as

REDIRECT = "https://myapps.microsoft.com"
NOT_FOUND = "Resource '{}' does not exist or one of its queried reference-property objects are not present."
LAG_SHAPES = {
    "not-found": (404, "Request_ResourceNotFound", NOT_FOUND),
    "do-not-exist": (400, "Request_BadRequest", "One or more added object references do not exist for the following "
                                                "modified properties: 'members'."),
    "dont-exist": (400, "Request_BadRequest", "One or more added object references don't exist for the following "
                                              "modified properties: 'members'."),
    "not-valid-reference": (400, "Request_BadRequest", "Not a valid reference update."),
    "directory-object-not-found": (404, "Directory_ObjectNotFound",
                                   "Unable to read the company information from the directory."),
}


def ref(user_id: str) -> dict:
    return {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user_id}"}


def invite(address: str, **extra) -> dict:
    return {"invitedUserEmailAddress": address, "inviteRedirectUrl": REDIRECT, **extra}


def new_guest(sim: Simulator, address: str = "lagging@fabrikam.example") -> str:
    return graph_as(sim).post("/invitations", invite(address)).json()["invitedUser"]["id"]


# ---- item 8: replication lag in each of its real shapes -------------------------------------------------------
@pytest.mark.parametrize("shape", sorted(LAG_SHAPES))
def test_replication_lag_answers_in_the_chosen_shape_until_replicated(shape):
    with Simulator(replication_lag=60, lag_answers=shape) as sim:
        user_id = new_guest(sim)
        graph = graph_as(sim)
        status, code, message = LAG_SHAPES[shape]
        add = graph.post(f"/groups/{PARTNERS_GROUP_ID}/members/$ref", ref(user_id))
        assert error_of(add) == (status, code, message.format(user_id))
        bind = graph.patch(f"/groups/{PARTNERS_GROUP_ID}",
                           {"members@odata.bind": [ref(user_id)["@odata.id"]]})
        assert error_of(bind) == (status, code, message.format(user_id))
        sim.clock.advance(61)
        assert graph.post(f"/groups/{PARTNERS_GROUP_ID}/members/$ref", ref(user_id)).status_code == 204


def test_default_lag_answer_is_404_and_an_unknown_user_is_404_whatever_the_shape():
    with Simulator(replication_lag=60) as sim:
        user_id = new_guest(sim)
        assert error_of(graph_as(sim).post(f"/groups/{PARTNERS_GROUP_ID}/members/$ref", ref(user_id)))[:2] == (
            404, "Request_ResourceNotFound")
    with Simulator(lag_answers="dont-exist") as sim:
        unknown = "0b7d9f8e-0000-4000-8000-00000000dead"
        assert error_of(graph_as(sim).post(f"/groups/{PARTNERS_GROUP_ID}/members/$ref", ref(unknown))) == (
            404, "Request_ResourceNotFound", NOT_FOUND.format(unknown))


def test_lag_answers_all_takes_every_shape_in_turn():
    with Simulator(replication_lag=60, lag_answers="all") as sim:
        user_id = new_guest(sim)
        graph = graph_as(sim)
        seen = [error_of(graph.post(f"/groups/{PARTNERS_GROUP_ID}/members/$ref", ref(user_id)))
                for _ in LAG_SHAPES]
        expected = [(s, c, m.format(user_id)) for s, c, m in LAG_SHAPES.values()]
        assert sorted(seen) == sorted(expected)


def test_unknown_lag_answer_name_is_refused_at_start():
    with pytest.raises(ValueError, match="lag answers"):
        Simulator(lag_answers="slow")


# ---- dynamic and role-assignable groups -----------------------------------------------------------------------
def test_dynamic_and_role_assignable_groups_are_marked_and_refuse_group_member_readwrite_all(sim):
    graph = graph_as(sim, ["GroupMember.ReadWrite.All", "User.Read.All"])
    dynamic = graph.get(f"/groups/{DYNAMIC_GROUP_ID}").json()
    assignable = graph.get(f"/groups/{ROLE_ASSIGNABLE_GROUP_ID}").json()
    assert "DynamicMembership" in dynamic["groupTypes"] and dynamic["membershipRule"]
    assert assignable["isAssignableToRole"] is True and "DynamicMembership" not in assignable["groupTypes"]
    assert graph.get(f"/groups/{PARTNERS_GROUP_ID}").json()["isAssignableToRole"] is None
    for group_id in (DYNAMIC_GROUP_ID, ROLE_ASSIGNABLE_GROUP_ID):
        response = graph.post(f"/groups/{group_id}/members/$ref", ref(PENDING_GUEST_ID))
        assert error_of(response) == (403, "Authorization_RequestDenied",
                                      "Insufficient privileges to complete the operation.")
        assert PENDING_GUEST_ID not in sim.graph.members_of(group_id)


def test_role_assignable_group_takes_members_with_role_management_too_and_dynamic_never(sim):
    graph = graph_as(sim, ["GroupMember.ReadWrite.All", "RoleManagement.ReadWrite.Directory"])
    assert graph.post(f"/groups/{ROLE_ASSIGNABLE_GROUP_ID}/members/$ref", ref(PENDING_GUEST_ID)).status_code == 204
    assert error_of(graph.post(f"/groups/{DYNAMIC_GROUP_ID}/members/$ref", ref(PENDING_GUEST_ID)))[0] == 403


# ---- item 13: long Retry-After on directory writes -------------------------------------------------------------
@pytest.mark.parametrize("seconds", [41, 315])
def test_directory_write_budget_can_answer_a_long_retry_after_and_holds_it(sim, seconds):
    sim.graph.limits["directory_writes"] = Budget(1, 150.0, retry_after=seconds)
    graph = graph_as(sim)
    assert graph.post(f"/groups/{PARTNERS_GROUP_ID}/members/$ref", ref(PENDING_GUEST_ID)).status_code == 204
    refused = graph.post(f"/groups/{PARTNERS_GROUP_ID}/members/$ref", ref(PENDING_GUEST_ID))
    assert error_of(refused)[:2] == (429, "TooManyRequests") and refused.headers["Retry-After"] == str(seconds)
    sim.clock.advance(seconds - 10)
    still = graph.post("/$batch", {"requests": [{"id": "1", "method": "POST",
                                                 "url": f"/groups/{PARTNERS_GROUP_ID}/members/$ref",
                                                 "headers": {"Content-Type": "application/json"},
                                                 "body": ref(PENDING_GUEST_ID)}]}).json()["responses"][0]
    assert still["status"] == 429 and 1 <= int(still["headers"]["Retry-After"]) <= 10
    sim.clock.advance(11)
    answer = graph.post(f"/groups/{PARTNERS_GROUP_ID}/members/$ref", ref(PENDING_GUEST_ID))
    assert error_of(answer)[:2] == (400, "Request_BadRequest")  # through the budget again: already a member


def test_an_injected_fault_carries_a_long_retry_after(sim):
    sim.faults.add(service="graph", method="POST", path=r"/members/\$ref$", status=429, retry_after=315, times=1)
    response = graph_as(sim).post(f"/groups/{PARTNERS_GROUP_ID}/members/$ref", ref(PENDING_GUEST_ID))
    assert error_of(response)[:2] == (429, "TooManyRequests") and response.headers["Retry-After"] == "315"


# ---- item 12: a tenant that forbids invitations, cross-tenant access -------------------------------------------
def test_tenant_setting_from_a_seed_forbids_invitations_with_graphs_403():
    with Simulator(seed={"graph": {"invitationsAllowed": False}}) as sim:
        response = graph_as(sim).post("/invitations", invite("g@fabrikam.example", sendInvitationMessage=True))
        assert error_of(response) == (403, "Authorization_RequestDenied", "Guest invitations not allowed for your "
                                      "company. Contact your company administrator for more details.")
        assert sim.graph.invitations == [] and sim.graph.emails == [] and sim.graph.user_by_mail(
            "g@fabrikam.example") is None


def test_cross_tenant_access_block_has_the_documented_wording(sim):
    response = graph_as(sim).post("/invitations", invite("x@blocked.example"))
    assert error_of(response) == (
        403, "Authorization_RequestDenied",
        "This invitation is blocked by cross-tenant access settings. Admins in both your organization and the "
        "invited user's organization must configure cross-tenant access settings to allow the invitation.")


# ---- issue 19: a repeat invitation of an existing guest --------------------------------------------------------
@pytest.mark.parametrize(("mode", "emails"), [("never", 1), ("pending", 2), ("always", 2)])
def test_repeat_invitation_answers_201_with_the_same_user_and_emails_as_configured(sim, mode, emails):
    sim.graph.repeat_invitation_email = mode
    graph = graph_as(sim)
    first = graph.post("/invitations", invite("rae@fabrikam.example", sendInvitationMessage=True))
    second = graph.post("/invitations", invite("RAE@fabrikam.example", sendInvitationMessage=True))
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["invitedUser"]["id"] == first.json()["invitedUser"]["id"]
    assert second.json()["status"] == "PendingAcceptance" and second.json()["id"] != first.json()["id"]
    assert sim.graph.emails_to("rae@fabrikam.example") == emails
    assert sim.graph.emails_by_address() == {"rae@fabrikam.example": emails}
    assert [e.repeat for e in sim.graph.emails] == [False, True][:emails]
    quiet = graph.post("/invitations", invite("rae@fabrikam.example"))  # sendInvitationMessage false: never
    assert quiet.status_code == 201 and sim.graph.emails_to("rae@fabrikam.example") == emails


def test_pending_mode_does_not_email_a_guest_who_redeemed(sim):
    sim.graph.repeat_invitation_email = "pending"
    response = graph_as(sim).post("/invitations", invite("lee@northwind.example", sendInvitationMessage=True))
    assert response.json()["status"] == "Completed" and sim.graph.emails_to("lee@northwind.example") == 0


# ---- issue 17: lookups through the index find what a scan finds ------------------------------------------------
@pytest.mark.parametrize("clause", [
    "mail eq '{a}'", "userPrincipalName eq '{upn}'", "otherMails/any(x:x eq '{a}')",
    "proxyAddresses/any(x:x eq 'smtp:{a}')",
    "userPrincipalName eq '{a}' or mail eq '{a}' or proxyAddresses/any(x:x eq 'SMTP:{a}') "
    "or otherMails/any(x:x eq '{a}')",
    "mail eq '{a}' and userType eq 'Guest'", "id eq '{id}'",
])
def test_indexed_lookups_find_a_new_guest_by_each_address_case_insensitively(sim, clause):
    for n in range(50):
        sim.graph.add_user(f"filler{n}@partner.example", user_type="Guest")
    graph = graph_as(sim)
    user_id = graph.post("/invitations", invite("Zoe.Q@Fabrikam.example")).json()["invitedUser"]["id"]
    upn = sim.graph.users[user_id]["userPrincipalName"]
    text = clause.format(a="zoe.q@FABRIKAM.example", upn=upn.upper(), id=user_id)
    found = graph.get("/users", params={"$filter": text}).json()["value"]
    assert [u["id"] for u in found] == [user_id]
    assert graph.get("/users", params={"$filter": clause.format(a="nobody@fabrikam.example", upn="x", id=UNUSED)}
                     ).json()["value"] == []
    assert graph.get(f"/users/{upn.replace('#', '%23')}").json()["id"] == user_id


UNUSED = "0b7d9f8e-0000-4000-8000-00000000beef"


def test_index_follows_a_user_added_again_under_the_same_id(sim):
    sim.graph.add_user("old@fabrikam.example", id=PENDING_GUEST_ID, user_type="Guest")
    assert sim.graph.user_by_mail(PENDING_GUEST_MAIL) is None
    assert sim.graph.user_by_mail("OLD@fabrikam.example")["id"] == PENDING_GUEST_ID
    found = graph_as(sim).get("/users", params={"$filter": f"mail eq '{PENDING_GUEST_MAIL}'"}).json()["value"]
    assert found == []


# ---- the same behaviours from `python -m simulator` -------------------------------------------------------------
def test_command_line_options_choose_each_behaviour():
    from simulator.__main__ import apply_graph_options, parse_args

    args = parse_args(["--lag-answers", "dont-exist", "not-valid-reference", "--mi-token-cache", "86400",
                       "--repeat-invitation-email", "pending", "--write-retry-after", "315", "--port", "0"])
    with Simulator(port=0, lag_answers=tuple(args.lag_answers), mi_token_cache=args.mi_token_cache) as sim:
        apply_graph_options(sim, args)
        assert sim.graph.lag_answers == ("dont-exist", "not-valid-reference")
        assert sim.identity.mi_token_cache == 86400 and sim.graph.repeat_invitation_email == "pending"
        assert sim.graph.limits["directory_writes"].retry_after == 315
    with pytest.raises(SystemExit):
        parse_args(["--lag-answers", "slow"])
