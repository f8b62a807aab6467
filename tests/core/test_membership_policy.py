"""The membership worker applies the person policy the doors apply (issue 13, item 3): it reads the user once
before the write; a member (not a guest) is refused unless ALLOW_MEMBER_USERS, a user on a blocked or not-allowed
domain is refused with the policy problem, and the read's 404 is replication lag, retried without a write."""

from __future__ import annotations

import pytest

from simulator.graph.models import (
    ACCEPTED_GUEST_ID,
    MEMBER_USER_ID,
    PARTNERS_GROUP_ID,
    PENDING_GUEST_ID,
)

MEMBERS = r"/members/\$ref$"
USER_READ = r"^/v1\.0/users/[0-9a-f-]{36}$"


def message(user_id: str, group_id: str = PARTNERS_GROUP_ID) -> dict:
    return {"userId": user_id, "groupId": group_id, "requestId": "r-1"}


def test_a_member_is_refused_by_default_without_a_write(app):
    poison = app.deliver(message(MEMBER_USER_ID))
    assert poison is not None
    assert poison["error"]["code"] == "PolicyRefused"
    assert "not a guest" in poison["error"]["message"] and "ALLOW_MEMBER_USERS" in poison["error"]["message"]
    assert MEMBER_USER_ID not in app.sim.graph.members_of(PARTNERS_GROUP_ID)
    assert app.sim.stats.count(service="graph", method="POST", path=MEMBERS) == 0


def test_a_member_is_added_when_the_setting_allows_members(app):
    app.configure(ALLOW_MEMBER_USERS="true")
    assert app.deliver(message(MEMBER_USER_ID)) is None
    assert MEMBER_USER_ID in app.sim.graph.members_of(PARTNERS_GROUP_ID)


def test_the_user_is_read_once_with_only_what_the_policy_needs(app):
    assert app.deliver(message(PENDING_GUEST_ID)) is None
    reads = [r for r in app.sim.stats.requests if r.service == "graph" and r.method == "GET"]
    assert [r.path for r in reads] == [f"/v1.0/users/{PENDING_GUEST_ID}"]
    assert "userType" in reads[0].query and "otherMails" in reads[0].query


@pytest.mark.parametrize("setting", [{"BLOCKED_EMAIL_DOMAINS": "fabrikam.com"},
                                     {"ALLOWED_EMAIL_DOMAINS": "contoso.com"}])
def test_a_guest_on_a_refused_domain_is_poisoned_with_the_policy_problem(app, setting):
    app.configure(**setting)
    poison = app.deliver(message(PENDING_GUEST_ID))  # adele@fabrikam.com
    assert poison is not None and poison["error"]["code"] == "PolicyRefused"
    assert "fabrikam.com" in poison["error"]["message"]
    assert PENDING_GUEST_ID not in app.sim.graph.members_of(PARTNERS_GROUP_ID)
    assert app.sim.stats.count(service="graph", method="POST", path=MEMBERS) == 0


def test_a_guest_already_in_the_group_on_an_allowed_domain_is_done(app):
    app.configure(ALLOWED_EMAIL_DOMAINS="northwind.example")
    assert app.deliver(message(ACCEPTED_GUEST_ID)) is None


def test_a_user_not_yet_readable_is_a_lag_wait_without_a_directory_write(app):
    app.configure(simulated_waits=True)
    app.sim.replication_lag = 600
    app.sim.graph.replication_hides_lookups = True
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    app.sim.stats.reset()
    deliveries, poison = app.deliver_until_settled(answer.messages[0])
    assert poison is None and deliveries > 2  # put back while the user read answered 404
    assert app.sim.stats.count(service="graph", method="GET", path=USER_READ) >= deliveries - 1
    assert app.sim.stats.count(service="graph", method="POST", path=MEMBERS) == 1  # no write until readable
    assert answer.body["userId"] in app.sim.graph.members_of(PARTNERS_GROUP_ID)
