"""Sponsors and offboarding: each works with its permission granted and is refused with a named fix without it;
offboarding never touches a member, a guest the app did not invite, or a guest with a grant left (issue 15)."""

from __future__ import annotations

from simulator.graph.models import (
    ACCEPTED_GUEST_ID,
    FALCON_GROUP_ID,
    MEMBER_USER_ID,
    PARTNERS_GROUP_ID,
)
from tests.lifecycle.conftest import LifecycleApp


def _grant(life: LifecycleApp, role: str) -> None:
    life.sim.identity.grant(life.sim.identity.default_app.client_id, role)
    life.configure()  # a fresh token carries the new role


def _megan_upn(life: LifecycleApp) -> str:
    return life.sim.graph.users[MEMBER_USER_ID]["userPrincipalName"]


# ---- sponsors ------------------------------------------------------------------------------------------------------
def test_sponsors_are_refused_naming_the_setting_while_it_is_off_and_nothing_is_sent(life: LifecycleApp) -> None:
    status, problem = life.invite({"email": "kai@fabrikam.example", "sponsors": [MEMBER_USER_ID]})
    assert status == 403 and problem["settings"] == ["SPONSORS_ENABLED"]
    assert "--sponsors" in problem["errors"][0]["message"] and problem["errors"][0]["field"] == "sponsors"
    assert life.sim.graph.emails_to("kai@fabrikam.example") == 0


def test_without_the_permission_the_answer_names_it_and_a_retry_after_the_grant_sets_them(life: LifecycleApp) -> None:
    life.configure(SPONSORS_ENABLED="true")
    status, problem = life.invite({"email": "lia@fabrikam.example", "sponsors": [_megan_upn(life)]})
    assert status == 502 and problem["requiredPermission"] == "User.ReadWrite.All", problem
    _grant(life, "User.ReadWrite.All")
    status, answer = life.invite({"email": "lia@fabrikam.example", "sponsors": [_megan_upn(life)]})
    assert status == 200, answer  # the guest exists from the first call: no second email
    assert life.sim.graph.users[answer["userId"]]["sponsors"] == [MEMBER_USER_ID]
    assert life.sim.graph.emails_to("lia@fabrikam.example") == 1
    status, _ = life.invite({"email": "lia@fabrikam.example", "sponsors": [MEMBER_USER_ID]})
    assert status == 200  # "already a sponsor" is success
    assert life.sim.graph.users[answer["userId"]]["sponsors"] == [MEMBER_USER_ID]


def test_an_unknown_or_guest_sponsor_is_a_bad_field_and_nothing_changes(life: LifecycleApp) -> None:
    life.configure(SPONSORS_ENABLED="true")
    _grant(life, "User.ReadWrite.All")
    status, problem = life.invite({"email": "max@fabrikam.example",
                                   "sponsors": [MEMBER_USER_ID, "nobody@contoso.example", ACCEPTED_GUEST_ID]})
    assert status == 400
    assert {e["field"] for e in problem["errors"]} == {"sponsors[1]", "sponsors[2]"}
    assert life.sim.graph.user_by_mail("max@fabrikam.example") is None


# ---- offboarding ---------------------------------------------------------------------------------------------------
def _expire_one_day_grant(life: LifecycleApp, email: str, group: str = PARTNERS_GROUP_ID) -> str:
    status, answer = life.invite({"email": email, "groupIds": [group], "accessDays": 1})
    assert status in (200, 201), answer
    life.settle()
    life.days(1.1)
    life.timer()
    assert answer["userId"] not in life.members(group)
    return answer["userId"]


def test_offboarding_is_nothing_by_default(life: LifecycleApp) -> None:
    guest = _expire_one_day_grant(life, "ned@fabrikam.example")
    life.days(30)
    life.timer()
    assert guest in life.sim.graph.users and life.sim.graph.users[guest]["accountEnabled"] is True


def test_block_sign_in_waits_for_its_permission_then_acts_once(life: LifecycleApp) -> None:
    life.configure(OFFBOARDING_ACTION="disable")
    guest = _expire_one_day_grant(life, "ola@fabrikam.example")
    life.timer()
    assert life.sim.graph.users[guest]["accountEnabled"] is True  # no User.EnableDisableAccount.All yet
    _grant(life, "User.EnableDisableAccount.All")
    life.timer()
    assert life.sim.graph.users[guest]["accountEnabled"] is False
    patches = life.sim.stats.count(service="graph", method="PATCH")
    life.timer()
    assert life.sim.stats.count(service="graph", method="PATCH") == patches


def test_delete_waits_for_the_grace_period_and_spares_guests_with_a_grant_left(life: LifecycleApp) -> None:
    life.configure(OFFBOARDING_ACTION="delete", OFFBOARDING_GRACE_DAYS="2")
    _grant(life, "User.DeleteRestore.All")
    status, kept = life.invite({"email": "pia@fabrikam.example", "groupIds": [PARTNERS_GROUP_ID, FALCON_GROUP_ID],
                                "accessDays": 1})
    life.settle()
    life.invite({"email": "pia@fabrikam.example", "groupIds": [FALCON_GROUP_ID], "accessDays": 10})
    life.settle()
    gone = _expire_one_day_grant(life, "quin@fabrikam.example")
    life.days(1.5)
    life.timer()
    assert gone in life.sim.graph.users  # within the grace period
    life.days(1)
    life.timer()
    assert gone not in life.sim.graph.users
    assert kept["userId"] in life.sim.graph.users  # still has the Falcon grant
    assert kept["userId"] in life.members(FALCON_GROUP_ID) and kept["userId"] not in life.members(PARTNERS_GROUP_ID)
    assert status == 201


def test_never_a_member_or_a_guest_the_app_did_not_invite(life: LifecycleApp) -> None:
    life.configure(OFFBOARDING_ACTION="delete", ALLOW_MEMBER_USERS="true")  # members are added only when allowed
    _grant(life, "User.DeleteRestore.All")
    # Lee (a guest invited by someone else) and Megan (a member) get a day in Partners / Falcon through the app
    member_mail = life.sim.graph.users[MEMBER_USER_ID]["mail"]
    for email, group in (("lee@northwind.example", FALCON_GROUP_ID), (member_mail, PARTNERS_GROUP_ID)):
        status, _ = life.invite({"email": email, "groupIds": [group], "accessDays": 1})
        assert status == 200
    life.settle()
    assert ACCEPTED_GUEST_ID in life.members(FALCON_GROUP_ID) and MEMBER_USER_ID in life.members(PARTNERS_GROUP_ID)
    life.days(3)
    life.timer()
    life.timer()
    assert ACCEPTED_GUEST_ID not in life.members(FALCON_GROUP_ID)  # their grants end...
    assert MEMBER_USER_ID not in life.members(PARTNERS_GROUP_ID)
    assert ACCEPTED_GUEST_ID in life.sim.graph.users and MEMBER_USER_ID in life.sim.graph.users  # ...they stay
    assert life.sim.stats.count(service="graph", method="DELETE", path=r"/users/") == 0
