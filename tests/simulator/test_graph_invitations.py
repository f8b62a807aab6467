"""POST /v1.0/invitations: request rules, the 201 body, the guest it creates, emails, domains, throttling."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from simulator.graph.models import ACCEPTED_GUEST_ID, PENDING_GUEST_ID, PENDING_GUEST_MAIL
from simulator.graph.responses import ODATA_JSON
from simulator.graph.throttling import Budget
from tests.simulator.graph_session import error_of, graph_as

REDIRECT = "https://myapps.microsoft.com"


def invite(address: str, **extra) -> dict:
    return {"invitedUserEmailAddress": address, "inviteRedirectUrl": REDIRECT, **extra}


def test_invitation_answers_201_with_the_documented_body_and_creates_the_guest(sim):
    response = graph_as(sim).post("/invitations", invite("alice@fabrikam.example", invitedUserDisplayName="Alice",
                                                         sendInvitationMessage=True))
    assert response.status_code == 201
    assert response.headers["Content-Type"] == ODATA_JSON
    body = response.json()
    assert body["invitedUserMessageInfo"] == {"messageLanguage": None, "customizedMessageBody": None,
                                              "ccRecipients": [{"emailAddress": {"name": None, "address": None}}]}
    assert set(body) == {"@odata.context", "id", "inviteRedeemUrl", "invitedUserDisplayName", "invitedUserType",
                         "invitedUserEmailAddress", "sendInvitationMessage", "resetRedemption", "inviteRedirectUrl",
                         "status", "invitedUserMessageInfo", "invitedUser"}
    assert (body["status"], body["invitedUserType"], body["resetRedemption"]) == ("PendingAcceptance", "Guest", False)
    user = sim.graph.user_by_mail("ALICE@fabrikam.example")
    assert body["invitedUser"] == {"id": user["id"]}
    assert user["userPrincipalName"] == f"alice_fabrikam.example#EXT#@{sim.tenant_domain}"
    assert (user["userType"], user["externalUserState"], user["creationType"]) == (
        "Guest", "PendingAcceptance", "Invitation")
    assert user["otherMails"] == ["alice@fabrikam.example"]
    assert sim.graph.emails_to("Alice@Fabrikam.example") == 1
    assert len(sim.graph.invitations) == 1


def test_no_email_is_sent_by_default(sim):
    assert graph_as(sim).post("/invitations", invite("bob@fabrikam.example")).status_code == 201
    assert sim.graph.emails_to("bob@fabrikam.example") == 0


def test_cc_recipient_is_recorded_and_more_than_one_is_refused(sim):
    graph = graph_as(sim)
    cc = {"ccRecipients": [{"emailAddress": {"address": "boss@fabrikam.example"}}]}
    assert graph.post("/invitations", invite("carol@fabrikam.example", sendInvitationMessage=True,
                                             invitedUserMessageInfo=cc)).status_code == 201
    assert sim.graph.emails_to("boss@fabrikam.example") == 1
    two = {"ccRecipients": cc["ccRecipients"] * 2}
    response = graph.post("/invitations", invite("dan@fabrikam.example", invitedUserMessageInfo=two))
    assert error_of(response)[:2] == (400, "BadRequest")
    assert sim.graph.user_by_mail("dan@fabrikam.example") is None


@pytest.mark.parametrize("missing", ["invitedUserEmailAddress", "inviteRedirectUrl"])
def test_required_fields_are_enforced(sim, missing):
    body = invite("erin@fabrikam.example")
    del body[missing]
    response = graph_as(sim).post("/invitations", body)
    assert error_of(response) == (400, "BadRequest", f"Required property '{missing}' is missing.")
    assert sim.graph.invitations == []


@pytest.mark.parametrize("address", ["a(b@fabrikam.example", "a,b@fabrikam.example", "a;b@fabrikam.example",
                                     ".ab@fabrikam.example", "ab-@fabrikam.example", "no-at-sign", "a b@x.example"])
def test_refused_email_addresses(sim, address):
    response = graph_as(sim).post("/invitations", invite(address, sendInvitationMessage=True))
    assert error_of(response) == (400, "BadRequest", "The specified email address is invalid.")
    assert sim.graph.emails == [] and sim.graph.user_by_mail(address) is None


def test_underscore_and_inner_dots_are_allowed(sim):
    assert graph_as(sim).post("/invitations", invite("a_b.c-d@fabrikam.example")).status_code == 201


def test_invalid_invited_user_type_is_refused(sim):
    response = graph_as(sim).post("/invitations", invite("f@fabrikam.example", invitedUserType="Admin"))
    assert error_of(response)[:2] == (400, "BadRequest")


def test_verified_domain_cannot_be_invited(sim):
    response = graph_as(sim).post("/invitations", invite(f"someone@{sim.tenant_domain}"))
    assert error_of(response) == (400, "BadRequest", "This user cannot be invited because the domain of the user's "
                                  "email address is a verified domain of this directory.")


def test_blocked_domain_gets_the_cross_tenant_error(sim):
    sim.graph.blocked_domains.add("rival.example")
    response = graph_as(sim).post("/invitations", invite("x@rival.example", sendInvitationMessage=True))
    status, code, message = error_of(response)
    assert (status, code) == (403, "Authorization_RequestDenied")
    assert message.startswith("This invitation is blocked by cross-tenant access settings.")
    assert sim.graph.emails == []


def test_tenant_with_invitations_disabled_refuses(sim):
    sim.graph.invitations_allowed = False
    response = graph_as(sim).post("/invitations", invite("g@fabrikam.example"))
    assert error_of(response) == (403, "Authorization_RequestDenied", "Guest invitations not allowed for your "
                                  "company. Contact your company administrator for more details.")


def test_existing_guest_is_returned_and_not_emailed_again(sim):
    graph = graph_as(sim)
    response = graph.post("/invitations", invite(PENDING_GUEST_MAIL.upper(), sendInvitationMessage=True))
    assert response.status_code == 201
    assert response.json()["invitedUser"] == {"id": PENDING_GUEST_ID}
    assert response.json()["status"] == "PendingAcceptance"
    assert sim.graph.emails_to(PENDING_GUEST_MAIL) == 0
    assert sum(1 for u in sim.graph.users.values() if u["mail"].lower() == PENDING_GUEST_MAIL) == 1
    accepted = graph.post("/invitations", invite("lee@northwind.example", sendInvitationMessage=True)).json()
    assert (accepted["invitedUser"]["id"], accepted["status"]) == (ACCEPTED_GUEST_ID, "Completed")


def test_inviting_twice_creates_one_user_and_one_email(sim):
    graph = graph_as(sim)
    first = graph.post("/invitations", invite("h@fabrikam.example", sendInvitationMessage=True)).json()
    second = graph.post("/invitations", invite("h@fabrikam.example", sendInvitationMessage=True)).json()
    assert first["invitedUser"] == second["invitedUser"]
    assert sim.graph.emails_to("h@fabrikam.example") == 1


def test_reset_redemption_resends_to_the_existing_user(sim):
    body = invite(PENDING_GUEST_MAIL, sendInvitationMessage=True, resetRedemption=True,
                  invitedUser={"id": PENDING_GUEST_ID})
    response = graph_as(sim, ["User.ReadWrite.All"]).post("/invitations", body)
    assert response.status_code == 201 and response.json()["resetRedemption"] is True
    assert sim.graph.emails_to(PENDING_GUEST_MAIL) == 1


def test_reset_redemption_needs_user_readwrite_all(sim):
    body = invite(PENDING_GUEST_MAIL, sendInvitationMessage=True, resetRedemption=True,
                  invitedUser={"id": PENDING_GUEST_ID})
    response = graph_as(sim, ["User.Invite.All"]).post("/invitations", body)
    assert error_of(response) == (403, "Authorization_RequestDenied",
                                  "Insufficient privileges to complete the operation.")
    assert sim.graph.emails == []


def test_unreadable_json_is_400(sim):
    graph = graph_as(sim)
    response = graph.session.post(graph.base + "/invitations", data=b"{nope", verify=graph.verify, timeout=10,
                                  headers={"Content-Type": "application/json"})
    assert error_of(response)[:2] == (400, "BadRequest")


def test_invitations_are_throttled_per_tenant_with_retry_after(sim):
    sim.graph.limits["invitations"] = Budget(3, 5.0)
    graph = graph_as(sim)
    statuses = [graph.post("/invitations", invite(f"t{i}@fabrikam.example")).status_code for i in range(4)]
    assert statuses == [201, 201, 201, 429]
    throttled = graph.post("/invitations", invite("t9@fabrikam.example"))
    assert error_of(throttled) == (429, "TooManyRequests", "Please retry again later.")
    assert 1 <= int(throttled.headers["Retry-After"]) <= 5
    assert sim.graph.user_by_mail("t9@fabrikam.example") is None
    sim.clock.advance(5.1)
    assert graph.post("/invitations", invite("t9@fabrikam.example")).status_code == 201


def test_throttling_can_be_switched_off(sim):
    sim.graph.limits["invitations"] = Budget(1, 5.0)
    sim.throttling = False
    graph = graph_as(sim)
    assert [graph.post("/invitations", invite(f"u{i}@fabrikam.example")).status_code for i in range(3)] == [201] * 3


def test_concurrent_invitations_of_one_address_make_one_guest_and_one_email(sim):
    body = invite("race@fabrikam.example", sendInvitationMessage=True)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: graph_as(sim).post("/invitations", body), range(8)))
    assert [a.status_code for a in answers] == [201] * 8
    assert len({a.json()["invitedUser"]["id"] for a in answers}) == 1
    assert sim.graph.emails_to("race@fabrikam.example") == 1
