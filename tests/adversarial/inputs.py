"""Hypothesis strategies for hostile input, and the checks every door's answer must pass."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from simulator.server import RecordedRequest

from .doors import ALLOWED_GROUPS, Called

# Modest example counts keep CI fast; deadline off because the machine is shared and noisy.
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

ODATA_SIGNIFICANT = "'%#&)(/?=+ $,;"
_local_alphabet = st.one_of(st.sampled_from(list("abcxyz019._-'")), st.sampled_from(list(ODATA_SIGNIFICANT)),
                            st.characters(codec="utf-8", exclude_categories=("Cs",)))
domains = st.one_of(
    st.sampled_from(["fabrikam.com", "bücher.example", "例え.jp", "xn--bcher-kva.example", "contoso.com",
                     "blocked.example", "northwind.example", "a..b", "-x.com", "fabrikam.com.", "", "localhost",
                     "[127.0.0.1]"]),
    st.text(max_size=30),
)
HUGE = "x" * 70_000
emails = st.one_of(
    st.builds(lambda local, domain: f"{local}@{domain}", st.text(_local_alphabet, min_size=1, max_size=30), domains),
    st.builds(lambda local, domain: f"{local}@{domain}", st.text(_local_alphabet, max_size=70), st.text(max_size=20)),
    st.sampled_from(["o'brien@fabrikam.com", "x' or mail eq 'megan@contoso.onmicrosoft.com", "a%27b@fabrikam.com",
                     "a#EXT#@fabrikam.com", "a&b@fabrikam.com", "a)b@fabrikam.com", "mail@fabrikam.com') or (1 eq 1",
                     "\u0000@fabrikam.com", "a\u202eb@fabrikam.com", "alice@fabrikam.com\r\nX-Injected: 1",
                     "ALICE@FABRIKAM.COM", " alice@fabrikam.com ", "a@b@fabrikam.com", "adele@fabrikam.com",
                     "megan@contoso.onmicrosoft.com", "lee@northwind.example", HUGE + "@f.com"]),
)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=40))
json_values = st.recursive(json_scalars, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=12), children, max_size=4), max_leaves=16)
group_ids = st.one_of(st.sampled_from(ALLOWED_GROUPS), st.uuids().map(str),
                      st.sampled_from([g.upper() for g in ALLOWED_GROUPS] + ["{" + ALLOWED_GROUPS[0] + "}", ""]),
                      st.text(max_size=40))
anything = st.one_of(json_values, emails)


def _wrong(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes any JSON value, rarely a huge string."""
    return st.one_of(valid, valid, valid, anything, st.just(HUGE))


def invitation_bodies() -> st.SearchStrategy[Any]:
    """Mostly invitation-shaped objects (so validation is exercised past the first field), some any JSON."""
    shaped = st.fixed_dictionaries(
        {"email": st.one_of(emails, emails, anything)},
        optional={"displayName": _wrong(st.text(max_size=300)),
                  "groupIds": _wrong(st.lists(st.sampled_from(ALLOWED_GROUPS), unique=True)
                                     | st.lists(group_ids, max_size=22)),
                  "redirectUrl": _wrong(st.sampled_from(["https://myapps.microsoft.com", "http://x", "javascript:x",
                                                         "https://a b", ""])),
                  "sendInvitationMessage": _wrong(st.booleans()),
                  "message": _wrong(st.text(max_size=2100)),
                  "messageLanguage": _wrong(st.sampled_from(["en-US", "fr", "x" * 40])),
                  "ccRecipients": _wrong(st.lists(emails, max_size=2)),
                  "resendInvitation": _wrong(st.booleans()),
                  "requestId": _wrong(st.text(max_size=80))})
    typo = st.fixed_dictionaries({"email": emails, "groupID": anything})
    return st.one_of(shaped, shaped, shaped, shaped, typo, json_values)


def encoded(value: Any, data: st.DataObject) -> bytes:
    """JSON text of ``value``, escaped or raw UTF-8; sometimes base64 (queue producers do that)."""
    text = json.dumps(value, ensure_ascii=data.draw(st.booleans(), label="ascii"))
    raw = text.encode("utf-8")
    return base64.b64encode(raw) if data.draw(st.integers(0, 4), label="b64") == 0 else raw


# Deeper than the json module's recursion limit: a RecursionError, not a ValueError, if not handled.
DEEPLY_NESTED = (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000)
hostile_bytes = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"\xff\xfe{}", b'{"email": "\xc3\x28@fabrikam.com"}', b"\xef\xbb\xbf{}", b"", b"null",
                     *DEEPLY_NESTED,
                     b'{"email": "a@fabrikam.com", "email": "b@fabrikam.com"}', b"NaN", b'{"email": Infinity}',
                     b'{"email": "a@fabrikam.com"} trailing', b"\x00" * 70_000]),
)

# ---- what every answer must satisfy ---------------------------------------------------------------------------
_LITERAL = r"((?:[^']|'')*)"
INTENDED_FILTER = re.compile(
    rf"mail eq '{_LITERAL}' or userPrincipalName eq '{_LITERAL}' or "
    rf"otherMails/any\(x:x eq '{_LITERAL}'\) or proxyAddresses/any\(x:x eq 'SMTP:{_LITERAL}'\)")


def user_lookup_email(request: RecordedRequest) -> str:
    """The address a GET /users asked about; fails unless the query is exactly the intended lookup."""
    query = parse_qsl(request.query, keep_blank_values=True, strict_parsing=True)
    names = sorted(name for name, _ in query)
    assert names == ["$filter", "$select", "$top"], f"unexpected query parameters {names}"
    odata_filter = dict(query)["$filter"]
    match = INTENDED_FILTER.fullmatch(odata_filter)
    assert match, f"a $filter other than the intended one reached Graph: {odata_filter[:200]!r}"
    assert len(set(match.groups())) == 1, "the four literals of the lookup differ"
    return match.group(1).replace("''", "'")


def check_graph_requests(called: Called, email: str | None) -> None:
    """Only the flow's own requests: the lookup with the intended filter for ``email``, the invitation, adds."""
    for request in called.graph:
        if request.method == "GET":
            assert request.path == "/v1.0/users", request.path
            looked_up = user_lookup_email(request)
            if email is not None:
                assert looked_up == email
        else:
            assert (request.method, request.path) == ("POST", "/v1.0/invitations") or re.fullmatch(
                r"/v1\.0/groups/[0-9a-f-]{36}/members/\$ref", request.path), (request.method, request.path)


def check_http_answer(called: Called) -> None:
    """2xx with the documented body, or a 4xx RFC 9457 problem; never 5xx for what a caller sends."""
    assert called.status is not None and called.status < 500, (called.status, called.body)
    if called.status >= 400:
        assert called.headers.get("Content-Type", "").startswith("application/problem+json"), called.headers
        assert isinstance(called.body, dict) and called.body.get("status") == called.status, called.body
        assert called.body.get("title")
        assert not called.messages


def check_poison(called: Called) -> None:
    """A poison message an operator can read: the original, an error with a message, never a bug's 500."""
    poison = called.poison
    assert isinstance(poison, dict) and set(poison) >= {"message", "error", "attempts", "failedAt"}, poison
    assert poison["error"].get("message"), poison
    assert poison["error"].get("code") != "internal-error", poison


def new_guid() -> str:
    return str(uuid.uuid4())
