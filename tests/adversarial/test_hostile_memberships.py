"""group-memberships messages with a hostile ``source`` or ``userId``, and long strings in every field that reaches a
log, on every door (issue 13): nothing but the membership's own Graph requests (the user's read, the add), never an
exception, a readable poison message when it fails, and log records of bounded size."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.logging_setup import LOGGER_NAME
from simulator.graph.models import PENDING_GUEST_ID

from .doors import ALLOWED_GROUPS, SHAREPOINT_LIST_ID, Doors
from .inputs import HUGE, SETTINGS, anything, check_http_answer, check_poison

TRAVERSALS = [f"x/../../users/{PENDING_GUEST_ID}#", "../../../../groups", "1/../../../users", "%2e%2e%2f", "1?x=1",
              "1#frag", "1;x", "\u0661", "1\r\nX: y", " 1", "01", "-1", "", HUGE]
hostile_ids = st.one_of(st.sampled_from(TRAVERSALS), anything,
                        st.builds(lambda n: str(n), st.integers(min_value=-10, max_value=10 ** 30)))
list_ids = st.one_of(st.just(SHAREPOINT_LIST_ID), st.just(SHAREPOINT_LIST_ID.upper()),
                     st.just(SHAREPOINT_LIST_ID + "/../x"), hostile_ids)
sources = st.one_of(
    st.fixed_dictionaries({"type": st.just("sharepoint"), "siteId": hostile_ids, "listId": list_ids,
                           "itemId": hostile_ids}, optional={"groupIds": anything}),
    anything,
)

# The most any one log record may take: each field is cut to 512 characters, lists and objects to 20 items.
MAX_RECORD_CHARS = 32_000


def _only_the_memberships_own_requests(called, user_id: str, group_id: str) -> None:
    allowed = {("GET", f"/v1.0/users/{user_id.lower()}"), ("POST", f"/v1.0/groups/{group_id.lower()}/members/$ref")}
    seen = [(r.method, r.path) for r in called.graph]
    assert set(seen) <= allowed, seen


@SETTINGS
@given(source=sources, group=st.sampled_from(ALLOWED_GROUPS))
def test_a_hostile_source_never_reaches_graph(doors: Doors, source, group) -> None:
    message = {"userId": PENDING_GUEST_ID, "groupId": group, "source": source}
    called = doors.membership(json.dumps(message).encode())

    _only_the_memberships_own_requests(called, PENDING_GUEST_ID, group)
    if called.poison is not None:
        check_poison(called)


@SETTINGS
@given(user_id=st.one_of(st.sampled_from([PENDING_GUEST_ID + suffix for suffix in
                                          ("/../../users", "#", "?$select=x", "/", "\n", "%00", " ")]),
                         st.sampled_from([PENDING_GUEST_ID.upper(), "{" + PENDING_GUEST_ID + "}"]),
                         st.sampled_from(TRAVERSALS), anything))
def test_a_hostile_user_id_is_refused_before_graph_or_addresses_exactly_that_user(doors: Doors, user_id) -> None:
    called = doors.membership(json.dumps({"userId": user_id, "groupId": ALLOWED_GROUPS[0]}).encode())

    if isinstance(user_id, str) and user_id.lower() == PENDING_GUEST_ID:
        _only_the_memberships_own_requests(called, PENDING_GUEST_ID, ALLOWED_GROUPS[0])
    else:
        assert called.graph == [], [r.path for r in called.graph]
        check_poison(called)
        assert called.poison["error"]["code"] == "InvalidMessage"


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == LOGGER_NAME]


def _bounded(caplog: pytest.LogCaptureFixture) -> None:
    sizes = [len(record.getMessage()) for record in _records(caplog)]
    assert sizes and max(sizes) <= MAX_RECORD_CHARS, max(sizes)
    assert HUGE not in "".join(record.getMessage() for record in _records(caplog))


def test_long_strings_in_a_membership_message_stay_out_of_the_logs(doors: Doors, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    huge_source = {"type": "sharepoint", "siteId": HUGE, "listId": SHAREPOINT_LIST_ID, "itemId": HUGE,
                   HUGE: HUGE, "groupIds": [HUGE] * 100}
    for message in ({"userId": PENDING_GUEST_ID, "groupId": ALLOWED_GROUPS[0], "email": HUGE + "@f.com",
                     "requestId": HUGE, "source": huge_source},
                    {"userId": HUGE, "groupId": HUGE, "requestId": HUGE},
                    {"userId": PENDING_GUEST_ID, "groupId": ALLOWED_GROUPS[0], **{f"{HUGE}{n}": n for n in range(50)}}):
        called = doors.membership(json.dumps(message).encode())
        if called.poison is not None:
            check_poison(called)
    _bounded(caplog)


def test_long_strings_in_an_invitation_stay_out_of_the_logs(doors: Doors, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    body = {"email": HUGE[:60_000] + "@fabrikam.com", "displayName": HUGE, "message": HUGE, "requestId": HUGE,
            "redirectUrl": "https://" + HUGE[:3000] + ".example/", "groupIds": [HUGE] * 3,
            "ccRecipients": [HUGE + "@x.com"], HUGE[:1000]: 1}
    raw = json.dumps(body).encode()[:65_000]
    check_http_answer(doors.invite(raw))
    queued = doors.guest_invitation(json.dumps(body).encode())
    if queued.poison is not None:
        check_poison(queued)
    _bounded(caplog)


def test_long_strings_in_a_notification_stay_out_of_the_logs(doors: Doors, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    entries = [{"subscriptionId": HUGE[:20_000], "clientState": HUGE[:20_000], "resource": HUGE[:20_000],
                "siteUrl": HUGE[:20_000]} for _ in range(2)]
    called = doors.notify(json.dumps({"value": entries}).encode())
    check_http_answer(called)
    _bounded(caplog)
