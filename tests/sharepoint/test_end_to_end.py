"""Issue 5's "Done when": provision, subscribe (the handshake reaches the real webhook over HTTPS), owners add
rows, the simulator notifies, the queue workers run on Azurite, and every row ends Added or Failed, once."""

from __future__ import annotations

import threading

import pytest
import requests
from azure.functions.queue import QueueMessage

from simulator.graph.models import ACCEPTED_GUEST_ID, FALCON_GROUP_ID, PARTNERS_GROUP_ID
from tests.function_host import Out

pytestmark = pytest.mark.azurite


def _subscribed(sp_app) -> None:
    sp_app.provision()
    code, output = sp_app.cli("sharepoint", "subscribe")
    assert code == 0, output
    assert "created" in output


def test_rows_end_added_with_users_in_their_groups_or_failed_with_a_reason(sp_app):
    _subscribed(sp_app)
    handshakes = sp_app.sim.sharepoint.subscriptions.handshakes
    assert [h.ok for h in handshakes] == [True]
    assert sp_app.host.invocations[0].function == "sharepoint_notifications"
    good = sp_app.add_row(Email="new.partner@fabrikam.com", DisplayName="New Partner",
                          GroupIds=f"{PARTNERS_GROUP_ID}; {FALCON_GROUP_ID}")
    bad = sp_app.add_row(Email="not an address", GroupIds=PARTNERS_GROUP_ID)
    existing = sp_app.add_row(Email="lee@northwind.example", GroupIds=FALCON_GROUP_ID)
    sp_app.settle()
    row = sp_app.row(good)
    assert row["Status"] == "Added" and row["Error"] == "" and row["ProcessedAt"]
    user_id = row["InvitedUserId"]
    assert user_id in sp_app.sim.graph.members_of(PARTNERS_GROUP_ID)
    assert user_id in sp_app.sim.graph.members_of(FALCON_GROUP_ID)
    failed = sp_app.row(bad)
    assert failed["Status"] == "Failed" and failed["Error"].startswith("email:")
    assert sp_app.row(existing)["Status"] == "Added"
    assert sp_app.row(existing)["InvitedUserId"] == ACCEPTED_GUEST_ID
    assert sp_app.sim.graph.emails_to("new.partner@fabrikam.com") == 1
    assert len(sp_app.sim.graph.invitations) == 1  # the existing guest got none


def test_a_repeated_and_a_concurrent_notification_change_nothing(sp_app):
    _subscribed(sp_app)
    first = sp_app.add_row(Email="alex@fabrikam.com", GroupIds=PARTNERS_GROUP_ID)
    sp_app.settle()
    assert sp_app.row(first)["Status"] == "Added"
    versions = {i: item.version for i, item in sp_app.sp_list.items.items()}
    delivered = sp_app.sim.sharepoint.notifier.deliveries[-1]
    again = requests.post(sp_app.host.url("sharepoint/notifications"), json=delivered.body, timeout=10)
    assert again.status_code == 202
    sp_app.settle()
    assert {i: item.version for i, item in sp_app.sp_list.items.items()} == versions
    assert len(sp_app.sim.graph.invitations) == 1

    second = sp_app.add_row(Email="blake@fabrikam.com", GroupIds=FALCON_GROUP_ID)
    sp_app.sim.sharepoint.notifier.wait_idle()
    sp_app.queues.clear("sharepoint-notifications")  # the two workers below stand for two deliveries at once
    worker = sp_app.functions["sharepoint_changes"].user_function
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(n: int) -> None:
        start.wait()
        try:
            worker(QueueMessage(id=f"m{n}", body=b'{"resource": "x"}', dequeue_count=1), poison=Out())
        except Exception as error:  # ChangesPending: the other worker holds the row
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(type(e).__name__ == "ChangesPending" for e in errors)
    sp_app.settle()
    assert sp_app.row(second)["Status"] == "Added"
    assert sp_app.sim.graph.emails_to("blake@fabrikam.com") == 1
    assert len(sp_app.sim.graph.invitations) == 2


def test_an_expired_delta_token_resyncs_without_reprocessing_rows(sp_app):
    _subscribed(sp_app)
    done = sp_app.add_row(Email="casey@fabrikam.com", GroupIds=PARTNERS_GROUP_ID)
    sp_app.settle()
    before = sp_app.sp_list.items[done].version
    assert sp_app.sim.sharepoint.expire_delta_tokens() >= 1
    later = sp_app.add_row(Email="drew@fabrikam.com")
    sp_app.settle()
    assert sp_app.sim.stats.count(service="graph", route="items.delta") >= 2
    assert sp_app.row(later)["Status"] == "Added"  # no groups: nothing left to do after the invitation
    assert sp_app.sp_list.items[done].version == before
    assert sp_app.sim.graph.emails_to("casey@fabrikam.com") == 1
    assert len(sp_app.sim.graph.invitations) == 2


def test_a_permanent_membership_failure_marks_the_row_failed(sp_app):
    from simulator.graph.models import FINANCE_GROUP_ID

    _subscribed(sp_app)
    row = sp_app.add_row(Email="eve@fabrikam.com", GroupIds=f"{PARTNERS_GROUP_ID},{FINANCE_GROUP_ID}")
    sp_app.settle()
    fields = sp_app.row(row)
    assert fields["Status"] == "Failed"
    assert FINANCE_GROUP_ID in fields["Error"] and "Guests users are not allowed" in fields["Error"]
    assert len(sp_app.queues.peek("group-memberships-poison")) == 1


def test_a_throttled_invitation_gives_the_row_back_and_a_later_delivery_completes_it(sp_app):
    _subscribed(sp_app)
    sp_app.sim.faults.add(service="graph", method="POST", path=r"/invitations$", status=429, retry_after=600,
                          times=1)
    row = sp_app.add_row(Email="frankie@fabrikam.com", GroupIds=PARTNERS_GROUP_ID)
    sp_app.settle()
    errors = [type(i.error).__name__ for i in sp_app.queues.invocations if i.error is not None]
    assert errors == ["ChangesPending"]
    assert sp_app.row(row)["Status"] == "Added"
    assert sp_app.sim.graph.emails_to("frankie@fabrikam.com") == 1
