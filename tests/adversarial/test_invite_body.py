"""POST /api/invitations under hostile bodies: a 2xx or a 4xx problem, never an exception or a 500; no Graph call
for a body that is refused; only the intended $filter ever reaches Graph."""

from __future__ import annotations

import json

from hypothesis import event, example, given
from hypothesis import strategies as st

from .doors import ALLOWED_GROUPS, Doors
from .inputs import SETTINGS, check_graph_requests, check_http_answer, encoded, hostile_bytes, invitation_bodies

REFUSED_BEFORE_GRAPH = (400, 403, 413, 415)


def _check(doors: Doors, called, body) -> None:
    event(f"HTTP {called.status}, {len(called.graph)} Graph requests")
    check_http_answer(called)
    if called.status in REFUSED_BEFORE_GRAPH:
        assert called.graph == [], f"{called.status} but Graph was called: {[r.path for r in called.graph]}"
    email = called.body.get("email") if called.status in (200, 201) else None
    check_graph_requests(called, email)
    if called.status in (200, 201):
        assert len(called.messages) == len(body.get("groupIds") or [])


@SETTINGS
@given(body=invitation_bodies(), data=st.data())
def test_any_json_body_gets_an_answer_or_a_problem_and_only_the_intended_lookup(doors: Doors, body,
                                                                              data: st.DataObject) -> None:
    called = doors.invite(encoded(body, data))
    _check(doors, called, body if isinstance(body, dict) else {})


@SETTINGS
@given(raw=hostile_bytes)
@example(raw=b'{"email": "x\' or mail eq \'megan@contoso.onmicrosoft.com"}')
def test_bytes_that_are_not_a_valid_body_are_refused_without_a_graph_call(doors: Doors, raw: bytes) -> None:
    called = doors.invite(raw)

    check_http_answer(called)
    if called.status >= 400:
        assert called.graph == []
    check_graph_requests(called, called.body.get("email") if called.status < 400 else None)


@SETTINGS
@given(content_type=st.one_of(st.text(max_size=60), st.sampled_from(
    ["text/plain", "application/json; charset=latin-1", "application/xml", "", "application/json\r\nX: y",
     "multipart/form-data; boundary=x", "application/jsonx", "APPLICATION/JSON; CHARSET=UTF-16"])))
def test_a_body_that_is_not_declared_json_is_refused_with_415_or_read_as_json(doors: Doors, content_type: str) -> None:
    called = doors.invite(json.dumps({"email": "o'brien@fabrikam.com"}).encode(), content_type=content_type)

    check_http_answer(called)
    assert called.status in (200, 201, 415)
    if called.status == 415:
        assert called.graph == []


def test_an_odata_injection_attempt_is_looked_up_as_one_literal(doors: Doors) -> None:
    # The address Graph would refuse is refused by validation; the closest valid form is quoted, not parsed.
    called = doors.invite(json.dumps({"email": "o'brien'or'1@fabrikam.com"}).encode())

    check_http_answer(called)
    lookups = [r for r in called.graph if r.method == "GET"]
    assert called.status == 201 and len(lookups) == 1
    check_graph_requests(called, "o'brien'or'1@fabrikam.com")
    assert doors.sim.graph.user_by_mail("megan@contoso.onmicrosoft.com")["id"] != called.body["userId"]


_printable_local = st.lists(st.sampled_from([*"abz09._-'`", "''", "'or'", "')or(", "'or'1'eq'1"]), min_size=1,
                            max_size=8).map(lambda parts: "".join(parts).strip(".-") or "a")
_valid_domains = st.sampled_from(["fabrikam.com", "bücher.example", "例え.jp", "xn--bcher-kva.example",
                                  "Northwind.Example", "sub.partner.example"])


@SETTINGS
@given(local=_printable_local, domain=_valid_domains, groups=st.lists(st.sampled_from(ALLOWED_GROUPS), unique=True),
       resend=st.booleans())
def test_addresses_with_quotes_reach_graph_only_as_one_quoted_literal(doors: Doors, local: str, domain: str,
                                                                      groups: list[str], resend: bool) -> None:
    body = {"email": f"{local}@{domain}", "groupIds": groups, "resendInvitation": resend}
    called = doors.invite(json.dumps(body).encode())

    event(f"HTTP {called.status}, {len(called.graph)} Graph requests")
    _check(doors, called, body)
    if called.status in (200, 201):
        assert [r.method for r in called.graph][:1] == ["GET"]  # looked up first, with the intended filter
        assert doors.sim.graph.emails_to(called.body["email"]) <= 1 + int(resend)
