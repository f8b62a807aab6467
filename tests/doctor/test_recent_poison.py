"""``/api/health`` says ``degraded`` (still 200) with the count when poison messages arrived in the last hour,
read from the poison queues in Azurite by the time the queue service stamped on each message."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from shared.storage_checks import PEEK_MAX, recent_poison_check

from .conftest import by_name
from .test_health import call_health

pytestmark = pytest.mark.azurite

POISON_QUEUES = ("group-memberships-poison", "guest-invitations-poison")


@pytest.fixture
def empty_poison(tenant):
    for name in POISON_QUEUES:
        tenant.queues.get_queue_client(name).clear_messages()
    yield tenant
    for name in POISON_QUEUES:
        tenant.queues.get_queue_client(name).clear_messages()


def poison(tenant, queue: str = "group-memberships-poison", count: int = 1) -> None:
    client = tenant.queues.get_queue_client(queue)
    for _ in range(count):
        client.send_message(json.dumps({"error": {"status": 403, "code": "Authorization_RequestDenied"}}))


def test_no_recent_poison_is_ok(empty_poison):
    empty_poison.configure()
    response = call_health()
    report = json.loads(response.get_body())
    assert response.status_code == 200 and report["status"] == "ok"
    assert by_name(report)["recent poison"]["status"] == "ok"


def test_a_poison_message_in_the_last_hour_makes_health_degraded_with_the_count_but_still_200(empty_poison):
    empty_poison.configure()
    poison(empty_poison, count=2)
    poison(empty_poison, "guest-invitations-poison")
    response = call_health()
    report = json.loads(response.get_body())
    assert response.status_code == 200 and report["ok"] is True and report["status"] == "degraded"
    check = by_name(report)["recent poison"]
    assert check["status"] == "degraded"
    assert check["detail"].startswith("3 poison message(s) in the last 60 min")
    assert "group-memberships-poison: 2" in check["detail"] and "guest-invitations-poison: 1" in check["detail"]
    assert "poison list" in check["fix"]


def test_messages_older_than_an_hour_do_not_count(empty_poison):
    empty_poison.configure()
    poison(empty_poison)
    queues = {name: empty_poison.queues.get_queue_client(name) for name in POISON_QUEUES}
    assert recent_poison_check(queues).status.value == "degraded"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=61)  # the same message, seen an hour later
    assert recent_poison_check(queues, now=later).status.value == "ok"


def test_a_queue_longer_than_one_peek_is_counted_as_at_least(empty_poison):
    empty_poison.configure()
    poison(empty_poison, count=PEEK_MAX + 1)
    queues = {name: empty_poison.queues.get_queue_client(name) for name in POISON_QUEUES}
    check = recent_poison_check(queues)
    assert f"group-memberships-poison: at least {PEEK_MAX}" in check.detail
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=61)
    assert "newer ones cannot be peeked" in recent_poison_check(queues, now=later).detail


def test_the_doctor_text_marks_degraded(empty_poison, capsys):
    empty_poison.configure()
    poison(empty_poison)
    from guest_cli import main

    code = main(["doctor", "--no-settings-file"])
    out = capsys.readouterr().out
    assert code == 0
    assert "[DEGRADED] recent poison" in out
    assert "degraded: recent poison" in out
