"""Caller input that is well-formed on the wire but not text our answers can carry: a \\u escape of an unpaired
surrogate (valid JSON grammar, not Unicode; RFC 8259 section 8.2) and a Content-Length of non-ASCII digits. Each is
a 4xx or a poison message with its reason, never a 500 or an exception out of the function."""

from __future__ import annotations

import json

from tests.adversarial.doors import SHAREPOINT_LIST_ID, Doors

LONE_SURROGATE_KEY = b'{"email": "alice@fabrikam.com", "\\ud800": 1}'
LONE_SURROGATE_TWICE = b'{"email": "alice@fabrikam.com", "\\ud800": 1, "\\ud800": 2}'
LONE_SURROGATE_VALUE = b'{"email": "alice@fabrikam.com", "displayName": "Al\\udfffice"}'


def test_an_unpaired_surrogate_in_a_member_name_is_a_400_in_utf8(doors: Doors) -> None:
    called = doors.configure().invite(LONE_SURROGATE_KEY)

    assert called.status == 400
    assert [error["field"] for error in called.body["errors"]] == ["body"]
    assert "surrogate" in called.body["errors"][0]["message"]
    assert called.graph == []


def test_a_duplicated_member_whose_name_is_an_unpaired_surrogate_is_a_400(doors: Doors) -> None:
    called = doors.configure().invite(LONE_SURROGATE_TWICE)

    assert called.status == 400 and "surrogate" in called.body["errors"][0]["message"]


def test_an_unpaired_surrogate_in_a_value_is_a_400_before_any_graph_call(doors: Doors) -> None:
    called = doors.configure().invite(LONE_SURROGATE_VALUE)

    assert called.status == 400
    assert called.graph == [] and called.messages == []
    assert doors.sim.graph.emails_to("alice@fabrikam.com") == 0


def test_a_queued_invitation_with_an_unpaired_surrogate_is_poisoned_as_utf8_text(doors: Doors) -> None:
    called = doors.configure().guest_invitation(LONE_SURROGATE_KEY)

    assert called.poison["error"]["status"] == 400
    assert "surrogate" in called.poison["error"]["message"]
    assert called.graph == [] and called.messages == []


def test_the_guest_invitations_poison_message_is_always_encodable_as_utf8(doors: Doors) -> None:
    # A queue message is UTF-8 text on the wire: a poison message that cannot be encoded would never be written.
    doors.configure()
    called = doors.host.queue("invite_from_queue", LONE_SURROGATE_KEY, message_id="enc-1",
                              dequeue_count=doors.max_dequeue_count)

    (poison,) = called.outputs["guest-invitations-poison"]  # the host wrote it: it is text
    assert json.loads(poison.encode("utf-8"))["error"]["code"] == "invalid-request"


def test_a_content_length_of_non_ascii_digits_is_not_a_500(doors: Doors) -> None:
    doors.configure()
    called = doors.host.http("invite", "POST", "http://localhost:7071/api/invitations",
                             body=b'{"email": "a@fabrikam.com"}',
                             headers={"Content-Type": "application/json", "Content-Length": "\u00b2"})

    assert called.error is None and called.status is not None and called.status < 500
    assert doors.sim.graph.emails_to("a@fabrikam.com") == (1 if called.status == 201 else 0)


def test_a_sharepoint_notification_with_an_unpaired_surrogate_is_a_400_and_queues_nothing(doors: Doors) -> None:
    raw = (b'{"value": [{"subscriptionId": "s", "resource": "' + SHAREPOINT_LIST_ID.encode() +
           b'", "clientState": "\\ud800"}]}')
    called = doors.configure().notify(raw)

    assert called.status == 400
    assert called.messages == []
