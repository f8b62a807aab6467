"""Hostile queue messages on their last delivery (the app must decide, not ask for another): a membership or an
invitation done, or a poison message with a readable reason; never an exception, never a Graph call for a message
that is not valid, and only the flow's own requests (with the intended $filter) otherwise."""

from __future__ import annotations

import base64
import json

from hypothesis import event, given
from hypothesis import strategies as st

from .doors import ALLOWED_GROUPS, Doors
from .inputs import (
    SETTINGS,
    anything,
    check_graph_requests,
    check_poison,
    encoded,
    hostile_bytes,
    invitation_bodies,
    json_values,
)

guids = st.one_of(st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()), st.sampled_from(ALLOWED_GROUPS))
membership_messages = st.one_of(
    st.fixed_dictionaries({"userId": st.one_of(guids, anything), "groupId": st.one_of(guids, anything)},
                          optional={"email": anything, "requestId": anything, "source": anything}),
    json_values,
)


def _membership_path_ok(doors: Doors, called, message) -> None:
    # Only the user's read (before the write: the membership policy) and the write itself.
    allowed = {("GET", f"/v1.0/users/{message['userId'].lower()}"),
               ("POST", f"/v1.0/groups/{message['groupId'].lower()}/members/$ref")}
    for request in called.graph:
        assert (request.method, request.path) in allowed


@SETTINGS
@given(message=membership_messages, data=st.data())
def test_a_membership_message_is_done_or_poisoned_with_a_reason(doors: Doors, message, data: st.DataObject) -> None:
    called = doors.membership(encoded(message, data))

    event(f"poison={called.poison is not None}, {len(called.graph)} Graph requests")
    valid = isinstance(message, dict) and all(
        isinstance(message.get(name), str) and len(message[name]) == 36 for name in ("userId", "groupId"))
    if not valid:
        assert called.graph == []
        check_poison(called)
        return
    _membership_path_ok(doors, called, message)
    if called.poison is not None:
        check_poison(called)


@SETTINGS
@given(raw=hostile_bytes)
def test_membership_bytes_that_are_no_message_are_poisoned_without_a_graph_call(doors: Doors, raw: bytes) -> None:
    called = doors.membership(raw)

    assert called.graph == []
    check_poison(called)


@SETTINGS
@given(body=invitation_bodies(), data=st.data())
def test_a_guest_invitation_message_is_onboarded_or_poisoned_with_a_reason(doors: Doors, body,
                                                                          data: st.DataObject) -> None:
    called = doors.guest_invitation(encoded(body, data))

    event(f"poison={called.poison is not None}, {len(called.graph)} Graph requests")
    if called.poison is not None:
        check_poison(called)
        error = called.poison["error"]
        if error.get("graphRequestId") is None and error.get("status") in (400, 403, 413, 415):
            assert called.graph == [], error  # refused by validation or policy: Graph never asked
        assert not called.messages
    else:
        assert len(called.messages) == len(body.get("groupIds") or [])
    check_graph_requests(called, None)


@SETTINGS
@given(raw=hostile_bytes)
def test_guest_invitation_bytes_that_are_no_message_are_poisoned_without_a_graph_call(doors: Doors,
                                                                                     raw: bytes) -> None:
    called = doors.guest_invitation(raw)

    assert called.graph == []
    check_poison(called)


def test_a_base64_membership_message_for_an_existing_guest_is_added(doors: Doors) -> None:
    from simulator.graph.models import PENDING_GUEST_ID

    raw = base64.b64encode(json.dumps({"userId": PENDING_GUEST_ID, "groupId": ALLOWED_GROUPS[1]}).encode())
    called = doors.membership(raw)

    assert called.poison is None and len(called.graph) == 2  # the user's read, then the write
    assert PENDING_GUEST_ID in doors.sim.graph.members_of(ALLOWED_GROUPS[1])
