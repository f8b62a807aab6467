"""Access until a date: a grant is recorded for each membership the app adds with an end, the hourly timer removes
it once the end has passed, and nothing else is ever removed (issue 15, "Done when" 1 and 3)."""

from __future__ import annotations

import json

import pytest

from simulator.graph.models import ACCEPTED_GUEST_ID, FALCON_GROUP_ID, MEMBER_USER_ID, PARTNERS_GROUP_ID
from tests.lifecycle.conftest import LifecycleApp


def test_a_grant_of_one_day_is_removed_by_the_timer_after_the_day_and_nothing_else(life: LifecycleApp) -> None:
    status, answer = life.invite({"email": "ana@fabrikam.example", "groupIds": [PARTNERS_GROUP_ID, FALCON_GROUP_ID],
                                  "accessDays": 1, "requestId": "req-one-day"})
    assert status == 201, answer
    assert answer["accessUntil"].endswith("Z")
    life.settle()
    guest = answer["userId"]
    assert guest in life.members(PARTNERS_GROUP_ID) and guest in life.members(FALCON_GROUP_ID)
    # someone else's members of the same groups
    assert ACCEPTED_GUEST_ID in life.members(PARTNERS_GROUP_ID) and MEMBER_USER_ID in life.members(FALCON_GROUP_ID)

    life.days(0.5)
    life.timer()  # not due yet
    assert guest in life.members(PARTNERS_GROUP_ID) and guest in life.members(FALCON_GROUP_ID)

    life.days(0.6)
    life.timer()
    assert life.members(PARTNERS_GROUP_ID) == {ACCEPTED_GUEST_ID}
    assert life.members(FALCON_GROUP_ID) == {MEMBER_USER_ID}
    removals = life.sim.stats.count(service="graph", method="DELETE")
    life.timer()  # ended grants are not removed twice
    assert life.sim.stats.count(service="graph", method="DELETE") == removals == 2


def test_a_member_added_by_someone_else_is_never_removed(life: LifecycleApp) -> None:
    # Lee is already in Partners (added by someone else); asking for a day's access records no grant
    status, _ = life.invite({"email": "lee@northwind.example", "groupIds": [PARTNERS_GROUP_ID], "accessDays": 1})
    assert status == 200
    life.settle()
    life.days(2)
    life.timer()
    assert ACCEPTED_GUEST_ID in life.members(PARTNERS_GROUP_ID)
    assert life.sim.stats.count(service="graph", method="DELETE") == 0


def test_without_an_end_nothing_is_recorded_or_removed_as_before(life: LifecycleApp) -> None:
    status, answer = life.invite({"email": "bo@fabrikam.example", "groupIds": [PARTNERS_GROUP_ID]})
    assert status == 201 and "accessUntil" not in answer
    life.settle()
    life.days(4000)
    life.timer()
    assert answer["userId"] in life.members(PARTNERS_GROUP_ID)


def test_default_and_maximum_access_days_settings(life: LifecycleApp) -> None:
    life.configure(DEFAULT_ACCESS_DAYS="2", MAX_ACCESS_DAYS="30")
    status, answer = life.invite({"email": "cy@fabrikam.example", "groupIds": [PARTNERS_GROUP_ID]})
    assert status == 201
    life.settle()
    status, refused = life.invite({"email": "di@fabrikam.example", "groupIds": [PARTNERS_GROUP_ID],
                                   "accessDays": 31})
    assert status == 400 and refused["errors"][0]["field"] == "accessDays"
    assert "MAX_ACCESS_DAYS" in refused["errors"][0]["message"]
    assert life.sim.graph.user_by_mail("di@fabrikam.example") is None  # a refused period changes nothing
    life.days(1.9)
    life.timer()
    assert answer["userId"] in life.members(PARTNERS_GROUP_ID)
    life.days(0.2)
    life.timer()
    assert answer["userId"] not in life.members(PARTNERS_GROUP_ID)


def test_an_end_in_the_past_or_both_fields_are_refused_naming_the_field(life: LifecycleApp) -> None:
    status, refused = life.invite({"email": "ed@fabrikam.example", "accessUntil": "2001-01-01T00:00:00Z"})
    assert status == 400 and refused["errors"][0]["field"] == "accessUntil"
    status, refused = life.invite({"email": "ed@fabrikam.example", "accessUntil": "2101-01-01T00:00:00Z",
                                   "accessDays": 3})
    assert status == 400 and [e["field"] for e in refused["errors"]] == ["accessDays"]


def test_renewal_extends_and_an_earlier_date_does_not_shorten(life: LifecycleApp) -> None:
    status, answer = life.invite({"email": "fay@fabrikam.example", "groupIds": [PARTNERS_GROUP_ID],
                                  "accessDays": 1})
    life.settle()
    guest = answer["userId"]
    life.days(0.5)
    status, _ = life.invite({"email": "fay@fabrikam.example", "groupIds": [PARTNERS_GROUP_ID], "accessDays": 3})
    assert status == 200
    life.settle()
    status, _ = life.invite({"email": "fay@fabrikam.example", "groupIds": [PARTNERS_GROUP_ID], "accessDays": 1})
    life.settle()
    life.days(1)
    life.timer()
    assert guest in life.members(PARTNERS_GROUP_ID)  # extended to 3.5 days from the start
    life.days(2.1)
    life.timer()
    assert guest not in life.members(PARTNERS_GROUP_ID)


def test_revoke_removes_now_and_answers_404_for_an_unknown_request(life: LifecycleApp) -> None:
    status, answer = life.invite({"email": "gil@fabrikam.example", "groupIds": [PARTNERS_GROUP_ID, FALCON_GROUP_ID],
                                  "accessDays": 30, "requestId": "req-revoke"})
    life.settle()
    guest = answer["userId"]
    status, revoked = life.revoke("req-revoke")
    assert status == 200, revoked
    assert sorted(g["status"] for g in revoked["groups"]) == ["removed", "removed"]
    assert guest not in life.members(PARTNERS_GROUP_ID) and guest not in life.members(FALCON_GROUP_ID)
    assert ACCEPTED_GUEST_ID in life.members(PARTNERS_GROUP_ID)
    status, again = life.revoke("req-revoke")  # a repeated revoke (its answer lost): the same outcome
    assert status == 200 and [g["status"] for g in again["groups"]] == ["ended", "ended"]
    status, unknown = life.revoke("req-never-made")
    assert status == 404 and unknown["type"].endswith(":grant-not-found")
    status, bad = life.revoke("no spaces allowed\r\nSet-Cookie: x")
    assert status == 400 and bad["errors"][0]["field"] == "requestId"
    assert "Set-Cookie" not in json.dumps(bad) and bad["requestId"] != "no spaces allowed"


def test_reminders_arrive_on_the_queue_once_each_and_again_after_a_renewal(life: LifecycleApp) -> None:
    life.configure(EXPIRY_REMINDER_DAYS="2")
    _, answer = life.invite({"email": "hal@fabrikam.example", "groupIds": [PARTNERS_GROUP_ID],
                                  "accessDays": 5, "requestId": "req-remind"})
    life.settle()
    life.timer()
    assert life.expiring() == []
    life.days(3.5)
    life.timer()
    life.timer()
    reminders = life.expiring()
    assert len(reminders) == 1
    assert reminders[0]["userId"] == answer["userId"] and reminders[0]["groupId"] == PARTNERS_GROUP_ID
    assert reminders[0]["until"] == answer["accessUntil"] and reminders[0]["daysLeft"] == 1
    _status, _ = life.invite({"email": "hal@fabrikam.example", "groupIds": [PARTNERS_GROUP_ID], "accessDays": 3})
    life.settle()
    life.days(1.5)
    life.timer()
    life.timer()
    assert len(life.expiring()) == 2  # the new end date's reminder, once


def test_cli_lists_grants_expiring_within_a_span_and_revokes(life: LifecycleApp) -> None:
    _, soon = life.invite({"email": "ivy@fabrikam.example", "groupIds": [PARTNERS_GROUP_ID], "accessDays": 2,
                           "requestId": "req-soon"})
    _, later = life.invite({"email": "jo@fabrikam.example", "groupIds": [PARTNERS_GROUP_ID], "accessDays": 20,
                            "requestId": "req-later"})
    life.settle()
    code, out = life.cli("grants", "list", "--expiring-within", "7d", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [(g["userId"], g["requestId"]) for g in listed] == [(soon["userId"], "req-soon")]
    code, out = life.cli("grants", "list")
    assert code == 0 and out.count("active") == 2
    with pytest.raises(SystemExit) as usage:
        life.cli("grants", "list", "--expiring-within", "soon")
    assert usage.value.code == 2
    code, out = life.cli("revoke", "req-later")
    assert code == 0 and out.startswith("removed")
    assert later["userId"] not in life.members(PARTNERS_GROUP_ID)
    assert soon["userId"] in life.members(PARTNERS_GROUP_ID)
    code, _ = life.cli("revoke", "req-unknown")
    assert code == 2


def test_cli_invite_with_access_days_records_the_grants_and_they_expire(life: LifecycleApp) -> None:
    code, out = life.cli("invite", "yves@fabrikam.example", "--group", PARTNERS_GROUP_ID, "--group",
                         FALCON_GROUP_ID, "--access-days", "1", "--no-email")
    assert code == 0, out
    assert "access until" in out
    guest = life.sim.graph.user_by_mail("yves@fabrikam.example")["id"]
    code, listed = life.cli("grants", "list", "--json")
    assert sorted((g["groupId"], g["source"]) for g in json.loads(listed) if g["userId"] == guest) == sorted(
        [(PARTNERS_GROUP_ID, "cli"), (FALCON_GROUP_ID, "cli")])
    life.days(1.1)
    life.timer()
    assert guest not in life.members(PARTNERS_GROUP_ID) and guest not in life.members(FALCON_GROUP_ID)
    code, _ = life.cli("invite", "zoe@fabrikam.example", "--access-days", "0")
    assert code == 2 and life.sim.graph.user_by_mail("zoe@fabrikam.example") is None
