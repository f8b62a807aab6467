"""The end of a row when writing it fails: the membership outcome hook cannot mark the row (SharePoint answers
503), the membership message is delivered again, the add answers "already a member", and the row ends Added, once.
When the write keeps failing, the last delivery poisons the message with the reason, and requeueing it finishes
the row."""

from __future__ import annotations

import json

import pytest

from simulator.graph.models import PARTNERS_GROUP_ID

pytestmark = pytest.mark.azurite

MEMBERS = r"/groups/[^/]+/members/\$ref$"
# Retry-After beyond the Graph client's budget: the client gives up at once instead of absorbing the failure
# within the invocation, so only a redelivery can finish the row.
FIELDS_FAULT = {"service": "graph", "method": "PATCH", "path": r"/items/.*/fields", "status": 503,
                "retry_after": 600}


def _invited_row(sp_app, email: str) -> str:
    """A row the SharePoint worker has taken to Invited, its membership message queued but not yet run."""
    sp_app.provision()
    code, output = sp_app.cli("sharepoint", "subscribe")
    assert code == 0, output
    row = sp_app.add_row(Email=email, GroupIds=PARTNERS_GROUP_ID)
    sp_app.sim.sharepoint.notifier.wait_idle()
    sp_app.queues.run_until_empty("sharepoint_changes")
    assert sp_app.row(row)["Status"] == "Invited"
    assert len(sp_app.queues.peek("group-memberships")) == 1
    return row


def _membership_errors(sp_app) -> list[str | None]:
    return [type(i.error).__name__ if i.error else None for i in sp_app.queues.invocations
            if i.function == "add_membership"]


def test_a_failed_outcome_write_is_retried_by_redelivery_and_the_row_ends_added(sp_app):
    row = _invited_row(sp_app, "gale@fabrikam.com")
    fault = sp_app.sim.faults.add(**FIELDS_FAULT, times=1)
    sp_app.settle()
    assert fault.hits == 1
    # None first: the new guest's message is put back once with the learned delay, without a directory write
    assert _membership_errors(sp_app) == [None, "RetryLater", None]
    fields = sp_app.row(row)
    assert fields["Status"] == "Added" and fields["Error"] == ""
    assert fields["InvitedUserId"] in sp_app.sim.graph.members_of(PARTNERS_GROUP_ID)
    assert sp_app.queues.peek("group-memberships-poison") == []
    assert sp_app.sim.stats.count(service="graph", method="POST", path=MEMBERS) == 2  # the second: already a member
    assert sp_app.sim.graph.emails_to("gale@fabrikam.com") == 1


def test_an_outcome_never_written_lands_in_poison_with_the_reason_and_a_requeue_finishes_the_row(sp_app):
    row = _invited_row(sp_app, "harper@fabrikam.com")
    sp_app.sim.faults.add(**FIELDS_FAULT)
    sp_app.settle()
    deliveries = sp_app.queues.max_dequeue_count
    assert _membership_errors(sp_app) == [None] + ["RetryLater"] * (deliveries - 1) + [None]
    assert sp_app.row(row)["Status"] == "Invited"
    [poisoned] = [json.loads(text) for text in sp_app.queues.peek("group-memberships-poison")]
    assert poisoned["attempts"] == deliveries
    assert poisoned["error"]["code"] == "OutcomeNotRecorded"
    assert f"SharePoint item {row}" in poisoned["error"]["message"] and "503" in poisoned["error"]["message"]
    assert poisoned["message"]["source"]["itemId"] == row

    sp_app.sim.faults.clear()
    code, output = sp_app.cli("poison", "requeue", "group-memberships-poison", "--all")
    assert code == 0, output
    sp_app.settle()
    assert sp_app.row(row)["Status"] == "Added"
    assert sp_app.queues.peek("group-memberships-poison") == []
    assert sp_app.sim.graph.emails_to("harper@fabrikam.com") == 1
