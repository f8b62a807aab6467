"""POST /api/sharepoint/notifications under hostile bodies: 202 or a 4xx problem, never a 500, never a Graph call
(the webhook only queues), and nothing queued unless the clientState is exactly the configured secret."""

from __future__ import annotations

import json

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from .doors import CLIENT_STATE, SHAREPOINT_LIST_ID, Doors
from .inputs import DEEPLY_NESTED, SETTINGS, anything, check_http_answer, hostile_bytes, json_values

wrong_states = st.one_of(
    st.sampled_from([CLIENT_STATE[:-1], CLIENT_STATE + "x", CLIENT_STATE.upper(), " " + CLIENT_STATE, "", None,
                     CLIENT_STATE.encode().hex()]),
    anything.filter(lambda value: value != CLIENT_STATE),
)
entries = st.fixed_dictionaries(
    {"subscriptionId": st.one_of(st.uuids().map(str), anything), "clientState": wrong_states,
     "resource": st.one_of(st.just(SHAREPOINT_LIST_ID), st.uuids().map(str), anything)},
    optional={"expirationDateTime": anything, "tenantId": anything, "siteUrl": anything, "webId": anything})
notifications = st.one_of(st.fixed_dictionaries({"value": st.lists(entries, max_size=4)}),
                          st.fixed_dictionaries({"value": anything}), json_values)


def _check(called) -> None:
    check_http_answer(called)
    assert called.graph == []
    assert called.messages == [], "a notification without the right clientState was queued"


@SETTINGS
@given(body=notifications)
def test_a_notification_without_the_client_state_is_never_queued(doors: Doors, body) -> None:
    called = doors.notify(json.dumps(body).encode("utf-8"))
    event(f"HTTP {called.status}")
    _check(called)


@SETTINGS
@given(raw=hostile_bytes)
def test_bytes_that_are_no_notification_are_refused(doors: Doors, raw: bytes) -> None:
    _check(doors.notify(raw))


@pytest.mark.parametrize("raw", [pytest.param(DEEPLY_NESTED[0], id="arrays-under-the-size-limit"),
                                 pytest.param(DEEPLY_NESTED[1], id="objects-over-the-size-limit")])
def test_deeply_nested_json_is_refused_with_a_4xx(doors: Doors, raw: bytes) -> None:
    _check(doors.notify(raw))


def test_the_right_client_state_is_queued_and_a_wrong_one_beside_it_is_not(doors: Doors) -> None:
    entry = {"subscriptionId": "0f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f", "clientState": CLIENT_STATE,
             "expirationDateTime": "2027-05-01T00:00:00.0000000Z", "resource": SHAREPOINT_LIST_ID,
             "tenantId": doors.sim.tenant_id, "siteUrl": "/sites/guests",
             "webId": "1a2b3c4d-0000-4000-8000-00000000000a"}
    wrong = {**entry, "clientState": CLIENT_STATE[:-1] + "?"}
    called = doors.notify(json.dumps({"value": [entry, wrong]}).encode())

    assert called.status == 202 and called.body == {"accepted": 1, "queued": 1, "refused": 1}
    assert len(called.messages) == 1 and CLIENT_STATE not in called.messages[0]
