"""POST /api/invitations against the simulated tenant: who gets invited, what is answered, what is queued."""

from __future__ import annotations

import datetime as dt
import uuid

from shared.wire import parse_utc
from simulator.graph.models import (
    ACCEPTED_GUEST_ID,
    ACCEPTED_GUEST_MAIL,
    FALCON_GROUP_ID,
    MEMBER_USER_ID,
    PARTNERS_GROUP_ID,
    PENDING_GUEST_ID,
    PENDING_GUEST_MAIL,
)

INVITES = r"/v1\.0/invitations$"


def invitations_posted(app) -> int:
    return app.sim.stats.count(service="graph", method="POST", path=INVITES)


def test_a_new_guest_is_invited_once_and_queued_for_each_group(app):
    answer = app.invite({"email": "alice@fabrikam.com", "displayName": "Alice",
                         "groupIds": [PARTNERS_GROUP_ID, FALCON_GROUP_ID]})
    assert answer.status == 201
    body = answer.body
    user = app.sim.graph.user_by_mail("alice@fabrikam.com")
    assert body["userId"] == user["id"] and user["userType"] == "Guest"
    assert body["invited"] is True and body["userType"] == "Guest"
    assert body["invitationStatus"] == "PendingAcceptance" and body["inviteRedeemUrl"].startswith("https://")
    assert body["groups"] == [{"groupId": PARTNERS_GROUP_ID, "status": "queued"},
                              {"groupId": FALCON_GROUP_ID, "status": "queued"}]
    assert app.sim.graph.emails_to("alice@fabrikam.com") == 1  # sendInvitationMessage defaults to true
    invited_at = {parse_utc(message.pop("invitedAt")) for message in answer.messages}
    assert answer.messages == [
        {"userId": user["id"], "groupId": group, "email": "alice@fabrikam.com", "requestId": body["requestId"],
         "newGuest": True}  # invited just now: the worker waits the learned replication delay first
        for group in (PARTNERS_GROUP_ID, FALCON_GROUP_ID)]
    (moment,) = invited_at  # one moment for the person, to the millisecond: the guest's age is measured from it
    assert abs((dt.datetime.now(dt.UTC) - moment).total_seconds()) < 60 and moment.microsecond % 1000 == 0
    assert answer.headers["x-request-id"] == body["requestId"]


def test_the_invitation_carries_the_callers_options(app):
    app.configure(ALLOWED_REDIRECT_HOSTS="*.contoso.com")
    answer = app.invite({"email": "bob@fabrikam.com", "redirectUrl": "https://partners.contoso.com/welcome",
                         "message": "Welcome aboard", "messageLanguage": "de-DE",
                         "ccRecipients": ["manager@contoso.com"]})
    assert answer.status == 201
    invitation = app.sim.graph.invitations[-1]
    assert invitation["inviteRedirectUrl"] == "https://partners.contoso.com/welcome"
    cc = invitation["invitedUserMessageInfo"]["ccRecipients"]
    assert [recipient["emailAddress"]["address"] for recipient in cc] == ["manager@contoso.com"]
    assert invitation["invitedUserMessageInfo"]["messageLanguage"] == "de-DE"
    assert app.sim.graph.emails_to("manager@contoso.com") == 1


def test_the_default_redirect_is_the_setting(app):
    app.configure(INVITE_REDIRECT_URL="https://portal.contoso.com/start")
    assert app.invite({"email": "carol@fabrikam.com"}).status == 201
    assert app.sim.graph.invitations[-1]["inviteRedirectUrl"] == "https://portal.contoso.com/start"


def test_no_email_is_sent_when_the_caller_says_so(app):
    answer = app.invite({"email": "dan@fabrikam.com", "sendInvitationMessage": False})
    assert answer.status == 201
    assert app.sim.graph.emails_to("dan@fabrikam.com") == 0


def test_an_existing_guest_is_not_invited_again(app):
    answer = app.invite({"email": PENDING_GUEST_MAIL.upper(), "groupIds": [PARTNERS_GROUP_ID]})
    assert answer.status == 200
    assert answer.body["userId"] == PENDING_GUEST_ID and answer.body["invited"] is False
    assert answer.body["invitationStatus"] == "PendingAcceptance" and answer.body["inviteRedeemUrl"] is None
    assert invitations_posted(app) == 0 and app.sim.graph.emails_to(PENDING_GUEST_MAIL) == 0
    assert [m["userId"] for m in answer.messages] == [PENDING_GUEST_ID]


def test_an_existing_member_is_not_invited(app):
    answer = app.invite({"email": f"megan@{app.sim.tenant_domain}", "groupIds": [FALCON_GROUP_ID]})
    assert answer.status == 200
    assert answer.body["userId"] == MEMBER_USER_ID and answer.body["userType"] == "Member"
    assert answer.body["invited"] is False and answer.body["invitationStatus"] is None
    assert invitations_posted(app) == 0


def test_a_person_known_by_another_address_is_found_through_other_mails(app):
    person = app.sim.graph.add_user("erin@fabrikam.com", user_type="Guest", other_mails=["erin.w@personal.example"],
                                    external_user_state="Accepted")
    answer = app.invite({"email": "erin.w@personal.example"})
    assert answer.status == 200 and answer.body["userId"] == person["id"]
    assert invitations_posted(app) == 0


def test_resend_invites_a_guest_who_has_not_redeemed_again(app):
    answer = app.invite({"email": PENDING_GUEST_MAIL, "resendInvitation": True})
    assert answer.status == 201
    assert answer.body["userId"] == PENDING_GUEST_ID and answer.body["invited"] is True
    assert answer.body["inviteRedeemUrl"]
    assert invitations_posted(app) == 1


def test_resend_does_nothing_for_a_guest_who_already_redeemed(app):
    answer = app.invite({"email": ACCEPTED_GUEST_MAIL, "resendInvitation": True})
    assert answer.status == 200
    assert answer.body["userId"] == ACCEPTED_GUEST_ID and answer.body["invitationStatus"] == "Accepted"
    assert invitations_posted(app) == 0


def test_an_apostrophe_address_is_looked_up_and_invited_once(app):
    first = app.invite({"email": "o'brien@fabrikam.com"})
    second = app.invite({"email": "O'Brien@fabrikam.com"})
    assert (first.status, second.status) == (201, 200)
    assert second.body["userId"] == first.body["userId"]
    assert invitations_posted(app) == 1 and app.sim.graph.emails_to("o'brien@fabrikam.com") == 1


def test_an_address_crafted_to_alter_the_filter_matches_only_itself(app):
    crafted = f"x'or'mail'eq'megan@{app.sim.tenant_domain}".replace("@", "_") + "@fabrikam.com"
    answer = app.invite({"email": crafted})
    assert answer.status == 201
    assert answer.body["userId"] != MEMBER_USER_ID
    assert app.sim.graph.invitations[-1]["invitedUserEmailAddress"] == crafted


def test_duplicate_group_ids_are_queued_once(app):
    answer = app.invite({"email": "frank@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID, PARTNERS_GROUP_ID.upper()]})
    assert [m["groupId"] for m in answer.messages] == [PARTNERS_GROUP_ID]


def test_the_callers_correlation_id_is_echoed(app):
    correlation = str(uuid.uuid4())
    answer = app.invite({"email": "gina@fabrikam.com"}, headers={"x-ms-client-request-id": correlation})
    assert answer.body["requestId"] == correlation == answer.headers["x-request-id"]
    assert answer.messages == [] and answer.status == 201
    assert app.invite({"email": "gina@fabrikam.com", "requestId": "run-42"}).body["requestId"] == "run-42"
    assert app.invite({"email": "gina@fabrikam.com"}, headers={"x-correlation-id": "wf-7"}).body["requestId"] == "wf-7"
    generated = app.invite({"email": "gina@fabrikam.com"}, headers={"x-correlation-id": "bad id!"}).body["requestId"]
    assert str(uuid.UUID(generated)) == generated


def test_an_idn_domain_is_invited_in_its_ascii_form(app):
    answer = app.invite({"email": "hans@bücher.example"})
    assert answer.status == 201 and answer.body["email"] == "hans@xn--bcher-kva.example"
    assert app.sim.graph.user_by_mail("hans@xn--bcher-kva.example")["id"] == answer.body["userId"]


# ---- Graph refuses the person: 422 with Graph's code and message ------------------------------------------
def test_an_address_in_a_verified_domain_of_the_tenant_is_a_422(app):
    answer = app.invite({"email": "someone@contoso.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert answer.status == 422
    assert answer.body["type"].endswith(":invitation-refused")
    assert "verified domain" in answer.body["graphError"]["message"]
    assert answer.body["graphError"]["graphRequestId"]
    assert answer.messages == []


# ---- Policy forbids invitations: the operator's problem, not the person's (issue 13, item 12) ------------------
def test_a_cross_tenant_block_is_the_operators_problem_not_the_persons(app):
    answer = app.invite({"email": "pat@blocked.example"})
    assert answer.status == 502 and answer.body["type"].endswith(":invitations-blocked")
    assert answer.body["blockedBy"] == "cross-tenant-access" and "Cross-tenant access settings" in answer.body["detail"]
    assert answer.body["graphError"]["status"] == 403


def test_invitations_disabled_for_the_tenant_is_the_operators_problem_not_the_persons(app):
    app.sim.graph.invitations_allowed = False
    answer = app.invite({"email": "quinn@fabrikam.com"})
    assert answer.status == 502 and answer.body["type"].endswith(":invitations-blocked")
    assert answer.body["blockedBy"] == "tenant-settings" and "External collaboration settings" in answer.body["detail"]
    assert "Retry-After" not in answer.headers


# ---- Graph refuses the app: 502 naming the permission ----------------------------------------------------
def test_a_missing_invite_permission_is_a_502_naming_it(app):
    app.sim.identity.revoke(app.sim.identity.default_app.client_id, "User.Invite.All")
    answer = app.invite({"email": "rita@fabrikam.com"})
    assert answer.status == 502
    assert answer.body["requiredPermission"] == "User.Invite.All"
    assert "User.Invite.All" in answer.body["detail"]


def test_a_missing_read_permission_is_a_502_naming_it(app):
    app.sim.identity.revoke(app.sim.identity.default_app.client_id, "User.Read.All")
    answer = app.invite({"email": "rita@fabrikam.com"})
    assert answer.status == 502 and answer.body["requiredPermission"] == "User.Read.All"
    assert invitations_posted(app) == 0


def test_a_retry_moments_after_the_invitation_marks_the_memberships_new_from_the_users_creation(app):
    # A caller's retry after a lost 201 (or another door's request) finds the guest readable, while directory writes
    # may not see them yet: its messages wait the learned delay too, measured from the user's createdDateTime.
    app.configure(simulated_waits=True)  # the app's clock is the simulator's
    first = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    app.sim.clock.advance(30)
    again = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert again.status == 200 and again.body["invited"] is False and invitations_posted(app) == 1
    (message,) = again.messages
    created = parse_utc(app.sim.graph.user_by_mail("alice@fabrikam.com")["createdDateTime"])
    assert message["newGuest"] is True and parse_utc(message["invitedAt"]) == created
    assert parse_utc(first.messages[0]["invitedAt"]) - created < dt.timedelta(seconds=2)
    app.sim.clock.advance(120)  # two minutes later the guest is an existing user like any other
    (later,) = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]}).messages
    assert "newGuest" not in later and "invitedAt" not in later


def test_a_long_existing_guest_is_not_new(app):
    (message,) = app.invite({"email": "adele@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]}).messages
    assert "newGuest" not in message and "invitedAt" not in message


def test_a_request_answered_by_the_claims_recorded_outcome_marks_its_memberships_new_too(app):
    # The lookup misses a guest invited a moment ago (lag hides it from GET /users too): the claim's recorded
    # outcome answers (shared.claims), and it carries when the guest was created, so this request's memberships
    # wait for replication as the first request's do instead of spending directory writes on the lag.
    app.configure(simulated_waits=True)
    app.sim.replication_lag = 60.0
    app.sim.graph.replication_hides_lookups = True
    first = app.invite({"email": "fresh.guest@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    app.sim.clock.advance(10)
    second = app.invite({"email": "fresh.guest@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert (first.status, second.status) == (201, 200) and invitations_posted(app) == 1
    ((invited,), (joined,)) = first.messages, second.messages
    assert joined["userId"] == invited["userId"] and joined["newGuest"] is True
    assert abs(parse_utc(joined["invitedAt"]) - parse_utc(invited["invitedAt"])) < dt.timedelta(seconds=1)
