"""The group-memberships queue trigger: done, retried by the host, or poisoned with its reason; nothing dropped."""

from __future__ import annotations

import uuid

import pytest

from shared import runtime
from shared.membership import RetryLater
from simulator.graph.models import (
    ACCEPTED_GUEST_ID,
    DYNAMIC_GROUP_ID,
    FINANCE_GROUP_ID,
    PARTNERS_GROUP_ID,
    PENDING_GUEST_ID,
    ROLE_ASSIGNABLE_GROUP_ID,
)

MEMBERS = r"/members/\$ref$"
LAST = 10  # host.json maxDequeueCount


def message(user_id=PENDING_GUEST_ID, group_id=PARTNERS_GROUP_ID, **extra):
    return {"userId": user_id, "groupId": group_id, "email": "adele@fabrikam.com", "requestId": "r-1", **extra}


def test_host_json_max_dequeue_count_is_what_the_worker_treats_as_the_last_delivery():
    assert runtime.max_dequeue_count() == LAST


def test_a_guest_is_added_to_the_group(app):
    assert app.deliver(message()) is None
    assert PENDING_GUEST_ID in app.sim.graph.members_of(PARTNERS_GROUP_ID)


def test_a_base64_message_is_accepted_too(app):
    assert app.deliver(message(), encoding="base64") is None
    assert PENDING_GUEST_ID in app.sim.graph.members_of(PARTNERS_GROUP_ID)


def test_an_existing_member_is_done_not_poisoned(app):
    assert app.deliver(message(ACCEPTED_GUEST_ID)) is None
    assert app.sim.graph.members_of(PARTNERS_GROUP_ID).count(ACCEPTED_GUEST_ID) == 1
    assert app.sim.stats.count(service="graph", path=MEMBERS) == 1


def test_an_invited_guest_ends_up_in_every_group_through_the_queue(app):
    groups = [PARTNERS_GROUP_ID, app.sim.graph.add_group("Extra")["id"]]
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": groups})
    for queued in answer.messages:
        assert app.deliver(queued) is None
    assert all(answer.body["userId"] in app.sim.graph.members_of(group) for group in groups)


def test_replication_lag_is_ridden_out_across_deliveries_then_the_member_is_added(app):
    app.configure(simulated_waits=True)
    app.sim.replication_lag = 600  # the 10 minutes the 2017 write-up observed
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    queued = answer.messages[0]
    deliveries = 0
    for dequeue_count in range(1, LAST + 1):
        deliveries += 1
        try:
            assert app.deliver(queued, dequeue_count) is None
            break
        except RetryLater:
            app.sim.clock.advance(120)  # host.json visibilityTimeout before the next delivery
    assert answer.body["userId"] in app.sim.graph.members_of(PARTNERS_GROUP_ID)
    assert 1 < deliveries < LAST


def test_a_short_replication_lag_is_ridden_out_within_one_delivery(app):
    app.configure(simulated_waits=True)
    app.sim.replication_lag = 5
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert app.deliver(answer.messages[0]) is None
    assert app.sim.stats.count(service="graph", path=MEMBERS) >= 2
    assert answer.body["userId"] in app.sim.graph.members_of(PARTNERS_GROUP_ID)


def test_a_user_still_missing_on_the_last_delivery_is_poisoned_with_the_reason(app):
    app.configure(simulated_waits=True)
    missing = str(uuid.uuid4())
    with pytest.raises(RetryLater):
        app.deliver(message(missing), 1)
    poison = app.deliver(message(missing), LAST)
    assert poison["error"]["status"] == 404 and poison["error"]["code"] == "Request_ResourceNotFound"
    assert poison["attempts"] == LAST and poison["message"]["userId"] == missing
    assert poison["error"]["graphRequestId"] and poison["failedAt"].endswith("Z")


def test_a_group_that_does_not_exist_is_poisoned_at_once(app):
    poison = app.deliver(message(group_id=str(uuid.uuid4())), 1)
    assert poison["error"]["status"] == 404 and poison["attempts"] == 1
    assert app.sim.stats.count(service="graph", path=MEMBERS) == 1


def test_a_group_that_refuses_guests_is_poisoned_with_graphs_message(app):
    poison = app.deliver(message(group_id=FINANCE_GROUP_ID))
    assert poison["error"]["status"] == 403 and "not allowed to join" in poison["error"]["message"]
    assert PENDING_GUEST_ID not in app.sim.graph.members_of(FINANCE_GROUP_ID)


def test_a_group_outside_allowed_group_ids_is_poisoned_naming_the_setting_with_no_graph_write(app):
    # Other systems may write to the queue directly: the worker applies the same group policy as the doors.
    app.configure(ALLOWED_GROUP_IDS=FINANCE_GROUP_ID)
    poison = app.deliver(message(), 1)
    assert poison["error"]["code"] == "PolicyRefused" and "ALLOWED_GROUP_IDS" in poison["error"]["message"]
    assert poison["attempts"] == 1
    assert PENDING_GUEST_ID not in app.sim.graph.members_of(PARTNERS_GROUP_ID)
    assert app.sim.stats.count(service="graph", path=MEMBERS) == 0


def test_a_missing_permission_is_poisoned_naming_it(app):
    app.sim.identity.revoke(app.sim.identity.default_app.client_id, "GroupMember.ReadWrite.All")
    poison = app.deliver(message())
    assert poison["error"]["code"] == "Authorization_RequestDenied"
    assert poison["error"]["requiredPermission"] == "GroupMember.ReadWrite.All"


def test_a_dynamic_group_is_poisoned_not_retried_naming_its_kind_not_a_permission(app):
    poison = app.deliver(message(group_id=DYNAMIC_GROUP_ID))
    error = poison["error"]
    assert error["status"] == 403 and error["groupKind"] == "dynamic"
    assert "requiredPermission" not in error and "dynamic membership" in error["message"]
    assert app.sim.stats.count(service="graph", method="GET", path=rf"/groups/{DYNAMIC_GROUP_ID}$") == 1


def test_a_role_assignable_group_names_its_kind_not_group_member_read_write(app):
    poison = app.deliver(message(group_id=ROLE_ASSIGNABLE_GROUP_ID))
    error = poison["error"]
    assert error["status"] == 403 and error["groupKind"] == "role-assignable"
    assert "requiredPermission" not in error
    assert "RoleManagement.ReadWrite.Directory" in error["message"] and "role-assignable" in error["message"]


@pytest.mark.parametrize("body", ["not json", "[]", '{"userId": "x", "groupId": "y"}', '{"groupId": "' +
                                  PARTNERS_GROUP_ID + '"}', "bm90IGpzb24=", ""])
def test_an_unreadable_message_is_poisoned_with_the_reason_and_no_graph_call(app, body):
    poison = app.deliver(body)
    assert poison["error"]["code"] == "InvalidMessage" and poison["error"]["status"] is None
    assert poison["message"] == body or isinstance(poison["message"], dict | list)
    assert app.sim.stats.count() == 0


def test_throttling_with_retry_after_is_waited_out_in_the_same_delivery(app):
    app.sim.faults.add(service="graph", method="POST", path=MEMBERS, status=429, retry_after=1, times=1)
    assert app.deliver(message()) is None
    assert app.waits == [1]
    assert PENDING_GUEST_ID in app.sim.graph.members_of(PARTNERS_GROUP_ID)


def test_an_outage_is_left_to_the_host_to_redeliver_then_poisoned_on_the_last_delivery(app):
    app.configure(simulated_waits=True)
    app.sim.faults.add(service="graph", method="POST", path=MEMBERS, status=503)
    with pytest.raises(RetryLater):
        app.deliver(message(), 1)
    poison = app.deliver(message(), LAST)
    assert poison["error"]["status"] == 503 and poison["attempts"] == LAST


def test_a_dropped_connection_is_retried_and_the_add_is_not_doubled(app):
    app.sim.faults.add(service="graph", method="POST", path=MEMBERS, drop_after=True, times=1)
    assert app.deliver(message()) is None  # the replay answers "already exist": done
    assert app.sim.graph.members_of(PARTNERS_GROUP_ID).count(PENDING_GUEST_ID) == 1


def test_a_misconfigured_app_retries_then_poisons_naming_the_setting(app):
    app.configure(GRAPH_ENDPOINT="http://graph.example")
    with pytest.raises(RetryLater):
        app.deliver(message(), 1)
    poison = app.deliver(message(), LAST)
    assert poison["error"]["code"] == "NotConfigured" and "GRAPH_ENDPOINT" in poison["error"]["message"]


def test_the_source_object_passes_through_to_the_poison_message_and_the_outcome_hook(app):
    source = {"type": "example", "siteId": "s", "listId": "l", "itemId": "7", "groupIds": [FINANCE_GROUP_ID]}
    outcomes = []
    runtime.add_outcome_hook(outcomes.append)
    try:
        poison = app.deliver(message(group_id=FINANCE_GROUP_ID, source=source))
        assert app.deliver(message(source=source)) is None
    finally:
        runtime.remove_outcome_hook(outcomes.append)
    assert poison["message"]["source"] == source
    assert [(o.status, o.source) for o in outcomes] == [("poisoned", source), ("added", source)]


def test_a_failing_outcome_hook_does_not_undo_or_repeat_the_membership(app):
    def broken(outcome):
        raise RuntimeError("SharePoint is down")

    runtime.add_outcome_hook(broken)
    try:
        assert app.deliver(message()) is None
    finally:
        runtime.remove_outcome_hook(broken)
    assert app.sim.stats.count(service="graph", path=MEMBERS) == 1


def test_an_outcome_hook_that_asks_to_retry_gets_the_outcome_again_on_the_next_delivery(app):
    outcomes = []

    def not_yet(outcome):
        outcomes.append(outcome.status)
        if len(outcomes) == 1:
            raise RetryLater("the outcome store is down")

    runtime.add_outcome_hook(not_yet)
    try:
        with pytest.raises(RetryLater):
            app.deliver(message(), 1)
        assert app.deliver(message(), 2) is None
    finally:
        runtime.remove_outcome_hook(not_yet)
    assert outcomes == ["added", "already_member"]


def test_an_outcome_hook_still_failing_on_the_last_delivery_poisons_the_message_with_its_reason(app):
    def down(outcome):
        raise RetryLater("the outcome store is down")

    runtime.add_outcome_hook(down)
    try:
        poison = app.deliver(message(), LAST)
    finally:
        runtime.remove_outcome_hook(down)
    assert PENDING_GUEST_ID in app.sim.graph.members_of(PARTNERS_GROUP_ID)
    assert poison["error"]["code"] == "OutcomeNotRecorded"
    assert "the outcome store is down" in poison["error"]["message"]
    assert poison["message"]["userId"] == PENDING_GUEST_ID


def test_an_unexpected_failure_is_redelivered_then_poisoned_with_a_reason_on_the_last_delivery(app, monkeypatch):
    # No real request triggers a bug today (three library escapes were fixed at their source), so one is injected
    # into the worker's own step; what is under test is the guard around it: never a poison without a reason.
    from shared import membership

    def broken(*args, **kwargs):
        raise RuntimeError("a library failed in a way nobody foresaw")

    monkeypatch.setattr(membership, "_add", broken)
    with pytest.raises(RuntimeError):
        app.deliver(message(), 1)
    poison = app.deliver(message(), LAST)
    assert poison["error"]["code"] == "internal-error" and poison["attempts"] == LAST
    assert poison["message"]["groupId"] == PARTNERS_GROUP_ID
