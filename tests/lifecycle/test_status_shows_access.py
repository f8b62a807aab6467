"""The status resource shows each group's access: its end (``until``) from the request, a renewal's later end, and
when the expiry or a revoke removed the membership (issue 14's record, issue 15's grants)."""

from __future__ import annotations

import json
from typing import Any

from simulator.graph.models import FALCON_GROUP_ID, PARTNERS_GROUP_ID
from tests.lifecycle.conftest import LifecycleApp


def status_of(life: LifecycleApp, request_id: str) -> dict[str, Any]:
    called = life.worker.http("invitation_status", "GET", f"http://localhost:7071/api/invitations/{request_id}",
                              route_params={"requestId": request_id})
    called.raise_error()
    assert called.response is not None and called.response.status_code == 200, called.response.get_body()
    return {group["groupId"]: group for group in json.loads(called.response.get_body())["groups"]}


def test_each_group_shows_its_until_and_then_that_the_expiry_ended_it(life: LifecycleApp) -> None:
    status, answer = life.invite({"email": "uma@fabrikam.example", "groupIds": [PARTNERS_GROUP_ID, FALCON_GROUP_ID],
                                  "accessDays": 1, "requestId": "req-status-until"})
    assert status == 201, answer
    life.settle()
    groups = status_of(life, "req-status-until")
    assert {group["until"] for group in groups.values()} == {answer["accessUntil"]}
    assert all(group["status"] == "added" and "accessEnded" not in group for group in groups.values())

    life.days(1.1)
    life.timer()
    groups = status_of(life, "req-status-until")
    assert {group["accessEnded"]["reason"] for group in groups.values()} == {"expired"}
    assert all(group["accessEnded"]["at"].endswith("Z") for group in groups.values())


def test_a_revoke_is_shown_as_the_end_of_access(life: LifecycleApp) -> None:
    status, answer = life.invite({"email": "vic@fabrikam.example", "groupIds": [PARTNERS_GROUP_ID],
                                  "accessDays": 5, "requestId": "req-status-revoke"})
    assert status == 201, answer
    life.settle()
    assert life.revoke("req-status-revoke")[0] == 200
    (group,) = status_of(life, "req-status-revoke").values()
    assert group["accessEnded"]["reason"] == "revoked" and group["until"] == answer["accessUntil"]


def test_a_request_without_an_end_shows_no_until(life: LifecycleApp) -> None:
    status, answer = life.invite({"email": "wyn@fabrikam.example", "groupIds": [PARTNERS_GROUP_ID],
                                  "requestId": "req-status-none"})
    assert status == 201, answer
    life.settle()
    (group,) = status_of(life, "req-status-none").values()
    assert "until" not in group and "accessEnded" not in group
