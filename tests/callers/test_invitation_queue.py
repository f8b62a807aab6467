"""The guest-invitations queue trigger: same body as HTTP, same flow; invalid and refused requests fail fast to
guest-invitations-poison with the reason, transient Graph failures are redelivered, nothing is dropped."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from shared import poison as poison_queue
from shared import runtime
from shared.membership import RetryLater
from shared.wire import parse_utc
from simulator.graph.models import FALCON_GROUP_ID, PARTNERS_GROUP_ID, PENDING_GUEST_ID, PENDING_GUEST_MAIL

INVITES = r"/v1\.0/invitations$"
USERS = r"/v1\.0/users$"
ALICE = {"email": "alice@fabrikam.com", "displayName": "Alice", "groupIds": [PARTNERS_GROUP_ID, FALCON_GROUP_ID]}


def invitations_posted(app) -> int:
    return app.sim.stats.count(service="graph", method="POST", path=INVITES)


@pytest.mark.parametrize("encoding", ["plain", "base64"])
def test_a_message_invites_the_person_and_queues_one_membership_per_group(app, encoding):
    memberships, poison = app.deliver_invitation({**ALICE, "requestId": "crm-4711"}, encoding=encoding)

    assert poison is None
    user = app.sim.graph.user_by_mail("alice@fabrikam.com")
    assert user is not None and app.sim.graph.emails_to("alice@fabrikam.com") == 1
    assert [(m["userId"], m["groupId"]) for m in memberships] == [(user["id"], PARTNERS_GROUP_ID),
                                                                  (user["id"], FALCON_GROUP_ID)]
    assert {m["requestId"] for m in memberships} == {"crm-4711"}


def test_an_accepted_message_gets_a_status_record_with_each_group_queued(app):
    app.deliver_invitation({**ALICE, "requestId": "crm-4712"})
    record = app.status("crm-4712")
    assert record.source == "queue" and record.invited is True and record.status == "pending"
    assert {(group.group_id, group.status) for group in record.groups} == {(PARTNERS_GROUP_ID, "queued"),
                                                                           (FALCON_GROUP_ID, "queued")}


def test_without_a_request_id_the_queue_message_id_correlates(app):
    memberships, _ = app.deliver_invitation(ALICE, message_id="5d7f9a2c-3b1e-4c6d-8e0f-1a2b3c4d5e6f")
    assert {m["requestId"] for m in memberships} == {"5d7f9a2c-3b1e-4c6d-8e0f-1a2b3c4d5e6f"}


def test_an_existing_guest_is_not_invited_again_but_still_queued(app):
    memberships, poison = app.deliver_invitation({"email": PENDING_GUEST_MAIL, "groupIds": [PARTNERS_GROUP_ID]})
    assert poison is None and invitations_posted(app) == 0 and app.sim.graph.emails_to(PENDING_GUEST_MAIL) == 0
    assert [m["userId"] for m in memberships] == [PENDING_GUEST_ID]


def test_a_redelivered_message_sends_no_second_email(app):
    first, _ = app.deliver_invitation(ALICE, dequeue_count=1)
    again, poison = app.deliver_invitation(ALICE, dequeue_count=2)
    assert poison is None and [m.pop("newGuest") for m in first] == [True, True]  # invited by the first delivery
    # the redelivery finds the guest created a moment ago: still new to directory writes (shared.lag.new_to_writes),
    # from the user's createdDateTime (whole seconds) rather than the first delivery's moment of the invitation
    assert [m.pop("newGuest") for m in again] == [True, True]
    created = app.sim.graph.user_by_mail("alice@fabrikam.com")["createdDateTime"]
    assert {parse_utc(m.pop("invitedAt")) for m in again} == {parse_utc(created)}
    assert len({m.pop("invitedAt") for m in first}) == 1
    assert first == again
    assert invitations_posted(app) == 1 and app.sim.graph.emails_to("alice@fabrikam.com") == 1


def test_an_invalid_message_is_poisoned_at_once_naming_every_bad_field(app):
    bad = {"email": "not an address", "groupIds": ["nope", PARTNERS_GROUP_ID], "groupID": "typo",
           "sendInvitationMessage": "yes"}
    memberships, poison = app.deliver_invitation(bad, dequeue_count=1)

    assert memberships == [] and app.sim.stats.count(service="graph") == 0
    assert {item["field"] for item in poison["error"]["errors"]} == {"email", "groupIds[0]", "groupID",
                                                                     "sendInvitationMessage"}
    assert poison["error"]["status"] == 400 and poison["error"]["code"] == "invalid-request"
    assert poison["message"] == bad and poison["attempts"] == 1
    assert dt.datetime.fromisoformat(poison["failedAt"]).tzinfo is not None


@pytest.mark.parametrize(("body", "kept"), [("this is not json", "this is not json"), ("", ""),
                                            ('{"email": "a@b.example"} trailing', '{"email": "a@b.example"} trailing'),
                                            ("WwpdCg==", [])])  # base64 of "[\n]": decoded, kept as parsed
def test_a_message_that_is_not_a_json_object_is_poisoned_with_its_text(app, body, kept):
    memberships, poison = app.deliver_invitation(body)
    assert memberships == [] and poison["error"]["errors"][0]["field"] == "body"
    assert poison["message"] == kept


def test_a_policy_refusal_is_poisoned_with_the_setting_that_governs_it(app):
    app.configure(ALLOWED_GROUP_IDS=FALCON_GROUP_ID)
    _, poison = app.deliver_invitation(ALICE)
    assert poison["error"]["status"] == 403 and poison["error"]["settings"] == ["ALLOWED_GROUP_IDS"]
    assert poison["error"]["errors"][0]["field"] == "groupIds[0]"
    assert app.sim.stats.count(service="graph") == 0


def test_a_person_graph_refuses_is_poisoned_with_graphs_answer(app):
    _, poison = app.deliver_invitation({"email": "someone@contoso.com"}, dequeue_count=1)
    error = poison["error"]
    assert error["problem"].endswith(":invitation-refused") and "verified domain" in error["message"]
    assert error["status"] in (400, 403) and error["code"] and error["graphRequestId"]


def test_a_tenant_that_forbids_invitations_is_poisoned_at_once_as_the_operators_problem(app):
    app.sim.graph.invitations_allowed = False
    _, poison = app.deliver_invitation(ALICE, dequeue_count=1)
    error = poison["error"]
    assert error["problem"].endswith(":invitations-blocked") and error["blockedBy"] == "tenant-settings"
    assert "Guest invitations not allowed" in error["message"]  # Graph's words, which the doctor reads too


def test_a_missing_permission_is_poisoned_at_once_naming_it(app):
    app.sim.identity.revoke(app.sim.identity.default_app.client_id, "User.Invite.All")
    _, poison = app.deliver_invitation(ALICE, dequeue_count=1)
    assert poison["error"]["requiredPermission"] == "User.Invite.All" and poison["error"]["status"] == 403
    assert poison["attempts"] == 1


def test_throttling_past_the_budget_is_left_to_the_hosts_redelivery(app):
    app.sim.faults.add(service="graph", method="GET", path=USERS, status=429, retry_after=120)
    with pytest.raises(RetryLater):
        app.deliver_invitation(ALICE, dequeue_count=1)
    assert invitations_posted(app) == 0


def test_an_outage_is_retried_then_poisoned_with_the_reason_on_the_last_delivery(app):
    app.configure(simulated_waits=True)
    app.sim.faults.add(service="graph", method="GET", path=USERS, status=503)
    with pytest.raises(RetryLater):
        app.deliver_invitation(ALICE, dequeue_count=runtime.max_dequeue_count() - 1)

    memberships, poison = app.deliver_invitation(ALICE, dequeue_count=runtime.max_dequeue_count())

    assert memberships == [] and poison["attempts"] == runtime.max_dequeue_count()
    assert poison["error"]["status"] == 503 and poison["error"]["problem"].endswith(":graph-unavailable")
    assert poison["message"] == ALICE


def test_a_transient_failure_then_success_invites_once(app):
    app.sim.faults.add(service="graph", method="GET", path=USERS, status=429, retry_after=120, times=1)
    with pytest.raises(RetryLater):
        app.deliver_invitation(ALICE, dequeue_count=1)
    memberships, poison = app.deliver_invitation(ALICE, dequeue_count=2)
    assert poison is None and len(memberships) == 2 and app.sim.graph.emails_to("alice@fabrikam.com") == 1


def test_the_poison_tool_reads_the_reason_this_trigger_writes(app):
    _, poison = app.deliver_invitation({"email": "x", "groupIds": ["nope"]}, dequeue_count=3)
    item = poison_queue.read_poison("id-1", json.dumps(poison))
    assert item.moved_by == "app" and item.attempts == 3
    assert item.reason.startswith("400 invalid-request: email: ") and "groupIds[0]" in item.reason
    assert json.loads(item.original) == {"email": "x", "groupIds": ["nope"]}
