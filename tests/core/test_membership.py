"""The group-memberships queue trigger: done, retried by the host, or poisoned with its reason; nothing dropped."""

from __future__ import annotations

import json
import uuid

import pytest

from shared import app_context, runtime
from shared.membership import RetryLater
from shared.wire import parse_utc
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
    app.configure(simulated_waits=True)
    groups = [PARTNERS_GROUP_ID, app.sim.graph.add_group("Extra")["id"]]
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": groups})
    assert all(queued["newGuest"] is True and "invitedAt" in queued for queued in answer.messages)
    # The first message is held once for the learned delay, then added; the second comes after that hold (the
    # simulated clock moved by it): the guest is already as old as the delay, so it is added at once.
    assert [app.deliver_until_settled(queued) for queued in answer.messages] == [(2, None), (1, None)]
    assert all(answer.body["userId"] in app.sim.graph.members_of(group) for group in groups)


def test_a_new_guests_first_message_waits_the_learned_delay_without_a_directory_write(app):
    app.configure(simulated_waits=True)
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert app.deliver(answer.messages[0]) is None
    assert app.sim.stats.count(service="graph", path=MEMBERS) == 0
    (copy,) = app.put_back()
    assert copy["firstDelay"] == 5.0 and copy["attempts"] == 0 and app.queue_delays == [5.0]
    assert app.deliver(copy) is None and app.put_back() == []
    assert app.sim.stats.count(service="graph", path=MEMBERS) == 1


def test_the_first_delay_grows_while_it_meets_the_lag_and_shrinks_when_it_does_not(app):
    app.configure(simulated_waits=True)
    app.sim.replication_lag = 30
    ctx = app_context.current()
    first = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    app.deliver_until_settled(first.messages[0])
    assert ctx.first_delay.seconds == 10.0  # 5 s met the 30 s lag once: doubled
    app.sim.replication_lag = 0
    second = app.invite({"email": "bob@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    app.deliver_until_settled(second.messages[0])
    assert ctx.first_delay.seconds == 9.8  # found at once: shrunk by 2%


def test_a_held_message_is_held_again_when_the_delay_grew_meanwhile_without_a_directory_write(app):
    # Issue 17 #2: the lessons of the messages ahead reach the messages already held with a shorter delay.
    app.configure(simulated_waits=True)
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert app.deliver(answer.messages[0]) is None
    (held,) = app.put_back()
    assert held["firstDelay"] == 5.0 and held["invitedAt"] == answer.messages[0]["invitedAt"]
    ctx = app_context.current()
    ctx.first_delay.observed(lagged=True)  # other guests' first writes met the lag meanwhile: 5 -> 10 -> 20 s
    ctx.first_delay.observed(lagged=True)
    assert app.deliver(held) is None
    (again,) = app.put_back()
    assert app.queue_delays == [5.0, 15.0]  # the rest of 20 s since the invitation, not 20 s more
    assert again["firstDelay"] == 20.0 and again["invitedAt"] == held["invitedAt"] and again["attempts"] == 0
    assert app.sim.stats.count(service="graph", path=MEMBERS) == 0
    assert app.deliver(again) is None and app.put_back() == []
    assert app.sim.stats.count(service="graph", path=MEMBERS) == 1
    assert answer.body["userId"] in app.sim.graph.members_of(PARTNERS_GROUP_ID)


def test_a_new_guest_already_older_than_the_delay_is_written_at_once(app):
    # A backlog: the message reaches the worker after the learned delay has passed since the invitation.
    app.configure(simulated_waits=True)
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    app.sim.clock.advance(6)
    assert app.deliver(answer.messages[0]) is None and app.put_back() == [] and app.queue_delays == []
    assert answer.body["userId"] in app.sim.graph.members_of(PARTNERS_GROUP_ID)
    assert app_context.current().first_delay.seconds == 5.0  # not held: nothing learned from it


@pytest.mark.parametrize("invited_at", ["2999-01-01T00:00:00Z", "yesterday", 17, None, "x" * 10_000])
def test_a_new_guests_unreadable_or_future_invitation_time_is_taken_as_now(app, invited_at):
    # Any system may write this queue: a hostile time never holds a message longer than the learned delay.
    app.configure(simulated_waits=True)
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert app.deliver({**answer.messages[0], "invitedAt": invited_at}) is None
    (held,) = app.put_back()
    assert app.queue_delays == [5.0] and parse_utc(held["invitedAt"]) <= app_context.current().utcnow()
    assert app.deliver(held) is None and app.put_back() == []
    assert answer.body["userId"] in app.sim.graph.members_of(PARTNERS_GROUP_ID)


def test_a_message_of_an_existing_user_is_tried_at_once(app):
    app.configure(simulated_waits=True)
    assert "newGuest" not in message()
    assert app.deliver(message()) is None and app.put_back() == [] and app.queue_delays == []


def test_replication_lag_is_ridden_out_by_putting_the_message_back_then_the_member_is_added(app):
    app.configure(simulated_waits=True)
    app.sim.replication_lag = 600  # the 10 minutes the 2017 write-up observed
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    deliveries, poison = app.deliver_until_settled(answer.messages[0])
    assert poison is None
    assert answer.body["userId"] in app.sim.graph.members_of(PARTNERS_GROUP_ID)
    assert 2 < deliveries <= LAST + 1
    # the first delay (5 s), doubled (10 s) by the lag it met; then never shorter than that learned delay nor the
    # guest's age (invisible at age a: tried again at age 2a; ages 5, 15, 31, 63 … s: a write per doubling of age)
    assert app.queue_delays[0] == 5.0 and app.queue_delays[1:6] == [10, 16, 32, 64, 128]
    assert deliveries == 9  # the hold and 8 writes: 5 … 511 s met the lag, 1,022 s found the guest
    assert app.waits == []  # no waiting inside an invocation


def test_a_lag_wait_is_no_failed_execution(app):
    app.configure(simulated_waits=True)
    app.sim.replication_lag = 60
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    pending = [answer.messages[0]]
    while pending:
        text = json.dumps(pending.pop())
        called = app.host.queue("add_membership", text, message_id="m-1", dequeue_count=1)
        assert called.error is None and called.error_message is None  # the invocation succeeded
        pending.extend(app.put_back())
    assert answer.body["userId"] in app.sim.graph.members_of(PARTNERS_GROUP_ID)


def test_a_user_still_missing_after_max_dequeue_count_tries_is_poisoned_with_the_reason(app):
    app.configure(simulated_waits=True)
    missing = str(uuid.uuid4())
    deliveries, poison = app.deliver_until_settled(message(missing))
    assert deliveries == LAST
    assert poison["error"]["status"] == 404 and poison["error"]["code"] == "Request_ResourceNotFound"
    assert poison["error"]["problem"].endswith(":replication-lag")
    assert poison["attempts"] == LAST and poison["message"]["userId"] == missing
    assert "attempts" not in poison["message"]  # requeued from the poison queue, it starts afresh
    assert poison["error"]["graphRequestId"] and poison["failedAt"].endswith("Z")


def test_a_hostile_attempts_member_counts_as_none(app):
    app.configure(simulated_waits=True)
    app.sim.faults.add(service="graph", method="POST", path=MEMBERS, status=503, retry_after=45, times=1)
    assert app.deliver(message(attempts=-50)) is None
    (copy,) = app.put_back()
    assert copy["attempts"] == 1


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
    assert app.waits == [1] and app.put_back() == []
    assert PENDING_GUEST_ID in app.sim.graph.members_of(PARTNERS_GROUP_ID)


@pytest.mark.parametrize("retry_after", [41, 315])
def test_a_retry_after_beyond_the_invocation_budget_is_honoured_by_putting_the_message_back(app, retry_after):
    # Issue 13 #13: public reports show 41 s and 315 s on directory writes; the queue's budget is 30 s.
    app.configure(simulated_waits=True)
    app.sim.faults.add(service="graph", method="POST", path=MEMBERS, status=429, retry_after=retry_after, times=1)
    deliveries, poison = app.deliver_until_settled(message())
    assert (deliveries, poison) == (2, None)
    assert app.queue_delays == [retry_after] and app.waits == []
    assert PENDING_GUEST_ID in app.sim.graph.members_of(PARTNERS_GROUP_ID)


def test_the_write_budgets_long_retry_after_is_honoured_too(app):
    app.configure(simulated_waits=True)
    budget = app.sim.graph.limits["directory_writes"]
    budget.retry_after = 315
    budget.requests = 1
    assert app.deliver(message()) is None  # the one write the budget allows
    deliveries, poison = app.deliver_until_settled(message(group_id=app.sim.graph.add_group("Extra")["id"]))
    assert poison is None and deliveries >= 2 and 315 in app.queue_delays


def test_an_outage_is_waited_out_by_putting_the_message_back_then_poisoned_after_the_last_try(app):
    app.configure(simulated_waits=True)
    app.sim.faults.add(service="graph", method="POST", path=MEMBERS, status=503)
    assert app.deliver(message(), 1) is None
    (copy,) = app.put_back()
    assert copy["attempts"] == 1
    poison = app.deliver(message(attempts=LAST - 1), 1)
    assert poison["error"]["status"] == 503 and poison["attempts"] == LAST and app.put_back() == []


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
