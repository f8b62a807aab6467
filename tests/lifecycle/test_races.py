"""The grant around an add when answers are lost, and a renewal racing the expiry: whose membership it is must be
decided right, or an expiry would remove someone else's member (or never remove ours)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from shared import app_context, lifecycle
from shared.grants import ACTIVE, REMOVING, grant_store
from simulator.graph.models import ACCEPTED_GUEST_ID, FALCON_GROUP_ID, PARTNERS_GROUP_ID
from tests.lifecycle.conftest import LifecycleApp

MEMBERS_REF = r"/groups/[^/]+/members/\$ref$"


def _until(life: LifecycleApp, days: float) -> str:
    return dt.datetime.fromtimestamp(life.sim.clock.now() + days * 86400, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_add_applied_but_unanswered_on_one_delivery_is_ours_on_the_next(life: LifecycleApp) -> None:
    guest = life.sim.graph.add_user("wes@fabrikam.example", user_type="Guest")["id"]
    message = {"userId": guest, "groupId": PARTNERS_GROUP_ID, "requestId": "req-lost", "accessUntil": _until(life, 1)}
    # every try of the first delivery is applied (the first) or answered, then the answer is lost
    life.sim.faults.add(service="graph", method="POST", path=MEMBERS_REF, drop_after=True, times=6)
    first = life.deliver(message, 1)
    # lost answers are a wait: the message goes back on the queue counting this attempt, the invocation succeeds
    assert first.error_message is None
    assert guest in life.members(PARTNERS_GROUP_ID)
    assert grant_store().get(guest, PARTNERS_GROUP_ID).state != ACTIVE
    life.settle()  # the put-back copy (attempt 2): "already a member" after our own POST
    assert grant_store().get(guest, PARTNERS_GROUP_ID).state == ACTIVE
    life.days(1.1)
    life.timer()
    assert guest not in life.members(PARTNERS_GROUP_ID)


def test_already_a_member_on_the_first_try_is_someone_elses_and_records_nothing(life: LifecycleApp) -> None:
    message = {"userId": ACCEPTED_GUEST_ID, "groupId": PARTNERS_GROUP_ID, "requestId": "req-theirs",
               "accessUntil": _until(life, 1)}
    assert life.deliver(message, 1).error_message is None
    assert grant_store().get(ACCEPTED_GUEST_ID, PARTNERS_GROUP_ID) is None
    assert life.deliver(message, 2).error_message is None  # a redelivery changes nothing either
    assert grant_store().get(ACCEPTED_GUEST_ID, PARTNERS_GROUP_ID) is None


def test_a_renewal_landing_while_the_expiry_removes_keeps_the_membership(life: LifecycleApp) -> None:
    guest = life.sim.graph.add_user("xan@fabrikam.example", user_type="Guest")["id"]
    assert life.deliver({"userId": guest, "groupId": FALCON_GROUP_ID, "requestId": "req-first",
                         "accessUntil": _until(life, 1)}).error_message is None
    life.days(1.1)
    store = grant_store()
    # the expiry has claimed the grant and is about to DELETE: a renewal arrives now
    claimed = store.save(replace(store.get(guest, FALCON_GROUP_ID), state=REMOVING, end_reason="expired"))
    assert life.deliver({"userId": guest, "groupId": FALCON_GROUP_ID, "requestId": "req-renew",
                         "accessUntil": _until(life, 5)}).error_message is None
    result = lifecycle.end_grant(app_context.current(), store, claimed, "expired", app_context.current().utcnow())
    assert result.status == "skipped"
    assert guest in life.members(FALCON_GROUP_ID)  # removed by the stale claim, then added back
    assert store.get(guest, FALCON_GROUP_ID).state == ACTIVE
    life.timer()
    assert guest in life.members(FALCON_GROUP_ID)
