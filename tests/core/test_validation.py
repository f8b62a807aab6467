"""Every invalid request is a 4xx problem listing what is wrong, and nothing reaches Graph or the token endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import runtime
from shared.email_address import check_email
from shared.requests_model import INVITATION_FIELDS, json_schema, validate_invitation
from simulator import Simulator

from .conftest import AppHarness

GROUP = "1b5e0c9a-0000-4000-8000-000000000001"
OK = {"email": "alice@fabrikam.com"}


@pytest.fixture(scope="module")
def shared_app(azurite: str) -> Iterator[AppHarness]:
    """One tenant for the many rejection cases: none of them may change it or even reach it."""
    with Simulator() as sim, pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_path))
        yield AppHarness(sim, monkeypatch, azurite).configure()
    runtime.reset()


@pytest.fixture
def quiet(shared_app: AppHarness) -> AppHarness:
    shared_app.sim.stats.reset()
    return shared_app


INVALID_BODIES = [
    ({}, "email"),
    ({"email": None}, "email"),
    ({"email": ""}, "email"),
    ({"email": 42}, "email"),
    ({"email": ["alice@fabrikam.com"]}, "email"),
    ({"email": "alice"}, "email"),
    ({"email": "alice@fabrikam.com, bob@fabrikam.com"}, "email"),
    ({"email": "alice@fabrikam.com;bob@fabrikam.com"}, "email"),
    ({"email": "Alice <alice@fabrikam.com>"}, "email"),
    ({"email": "al ice@fabrikam.com"}, "email"),
    ({"email": "alice@@fabrikam.com"}, "email"),
    ({"email": "alice@fabrikam"}, "email"),
    ({"email": "alice@fabrikam..com"}, "email"),
    ({"email": "alice@-fabrikam.com"}, "email"),
    ({"email": "alice@fab_rikam.com"}, "email"),
    ({"email": "alice@127.0.0.1"}, "email"),
    ({"email": ".alice@fabrikam.com"}, "email"),
    ({"email": "alice.@fabrikam.com"}, "email"),
    ({"email": "-alice@fabrikam.com"}, "email"),
    ({"email": "alice-@fabrikam.com"}, "email"),
    ({"email": "al..ice@fabrikam.com"}, "email"),
    ({"email": "alice+news@fabrikam.com"}, "email"),
    ({"email": "al!ce@fabrikam.com"}, "email"),
    ({"email": "al#ice@fabrikam.com"}, "email"),
    ({"email": "ali(c)e@fabrikam.com"}, "email"),
    ({"email": "ali\"ce@fabrikam.com"}, "email"),
    ({"email": "al/ice@fabrikam.com"}, "email"),
    ({"email": "jürgen@fabrikam.com"}, "email"),
    ({"email": "a" * 65 + "@fabrikam.com"}, "email"),
    ({"email": "alice@" + "d" * 250 + ".com"}, "email"),
    ({**OK, "groupID": [GROUP]}, "groupID"),
    ({**OK, "Email": "x@fabrikam.com"}, "Email"),
    ({**OK, "groupIds": GROUP}, "groupIds"),
    ({**OK, "groupIds": ["not-a-guid"]}, "groupIds[0]"),
    ({**OK, "groupIds": [GROUP, 7]}, "groupIds[1]"),
    ({**OK, "groupIds": [GROUP, "{" + GROUP + "}"]}, "groupIds[1]"),
    ({**OK, "groupIds": [f"1b5e0c9a-0000-4000-8000-{i:012d}" for i in range(21)]}, "groupIds"),
    ({**OK, "redirectUrl": "http://myapps.example"}, "redirectUrl"),
    ({**OK, "redirectUrl": "/relative"}, "redirectUrl"),
    ({**OK, "redirectUrl": "javascript:alert(1)"}, "redirectUrl"),
    ({**OK, "sendInvitationMessage": "true"}, "sendInvitationMessage"),
    ({**OK, "sendInvitationMessage": 1}, "sendInvitationMessage"),
    ({**OK, "resendInvitation": "yes"}, "resendInvitation"),
    ({**OK, "message": ""}, "message"),
    ({**OK, "message": "x" * 2001}, "message"),
    ({**OK, "messageLanguage": "english please"}, "messageLanguage"),
    ({**OK, "ccRecipients": ["a@fabrikam.com", "b@fabrikam.com"]}, "ccRecipients"),
    ({**OK, "ccRecipients": ["not an address"]}, "ccRecipients[0]"),
    ({**OK, "ccRecipients": "manager@contoso.com"}, "ccRecipients"),
    ({**OK, "displayName": "   "}, "displayName"),
    ({**OK, "displayName": "x" * 257}, "displayName"),
    ({**OK, "displayName": {"first": "Alice"}}, "displayName"),
    ({**OK, "requestId": "has spaces"}, "requestId"),
]


@pytest.mark.parametrize(("body", "field"), INVALID_BODIES, ids=[f"{i}-{f}" for i, (_, f) in enumerate(INVALID_BODIES)])
def test_an_invalid_body_is_a_400_problem_naming_the_field_with_no_graph_call(quiet, body, field):
    answer = quiet.invite(body)
    assert answer.status == 400, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["type"].endswith(":invalid-request")
    assert field in [error["field"] for error in answer.body["errors"]]
    assert answer.messages == []
    assert quiet.sim.stats.count() == 0  # neither Graph nor the token endpoint


@pytest.mark.parametrize("raw", [b"", b"not json", b'{"email": "a@b.com"', b"[1, 2]", b'"alice@fabrikam.com"',
                                 b"null", b"\xff\xfe{}", b'{"email": NaN}',
                                 b'{"email": "alice@fabrikam.com", "email": "mallory@evil.example"}'])
def test_a_body_that_is_not_one_json_object_is_a_400_problem(quiet, raw):
    answer = quiet.invite(None, raw=raw)
    assert answer.status == 400
    assert answer.body["errors"]
    assert quiet.sim.stats.count() == 0


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1", "multipart/form-data"])
def test_a_body_that_is_not_declared_json_is_a_415_problem(quiet, content_type):
    headers = {"Content-Type": content_type} if content_type else {"Content-Type": ""}
    answer = quiet.invite(OK, headers=headers)
    assert answer.status == 415
    assert answer.body["type"].endswith(":unsupported-media-type")
    assert quiet.sim.stats.count() == 0


def test_a_body_over_64_kb_is_a_413_problem(quiet):
    answer = quiet.invite({**OK, "message": "x" * 70_000})
    assert answer.status == 413
    assert quiet.sim.stats.count() == 0


def test_every_problem_is_listed_at_once(quiet):
    answer = quiet.invite({"email": "bad", "groupIds": ["x", GROUP, "y"], "typo": 1, "sendInvitationMessage": "no"})
    fields = sorted(error["field"] for error in answer.body["errors"])
    assert fields == ["email", "groupIds[0]", "groupIds[2]", "sendInvitationMessage", "typo"]
    assert answer.body["requestId"]


def test_null_optional_fields_count_as_absent():
    request, errors = validate_invitation(json.loads('{"email": "alice@fabrikam.com", "displayName": null, '
                                                     '"groupIds": null, "sendInvitationMessage": null}'))
    assert errors == [] and request.display_name is None and request.send_invitation_message is True
    assert request.group_ids == ()


def test_json_with_a_charset_parameter_and_a_byte_order_mark_is_accepted(quiet):
    answer = quiet.invite(None, raw="\ufeff{\"email\": \"adele@fabrikam.com\"}".encode(),
                          headers={"Content-Type": "application/json; charset=UTF-8"})
    assert answer.status == 200 and answer.body["userId"]


# ---- the email rules ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("address", "normal"), [
    ("o'brien@fabrikam.com", "o'brien@fabrikam.com"),
    ("first.last@fabrikam.com", "first.last@fabrikam.com"),
    ("_under_score_@fabrikam.com", "_under_score_@fabrikam.com"),
    ("a-b@sub.fabrikam.co.uk", "a-b@sub.fabrikam.co.uk"),
    ("Alice@Fabrikam.COM", "Alice@fabrikam.com"),
    ("hans@bücher.example", "hans@xn--bcher-kva.example"),
])
def test_valid_addresses_and_their_normal_form(address, normal):
    assert check_email(address) == (normal, None)


@pytest.mark.parametrize("char", list('~!#$%^&*()+=[]{}\\/|;:"<>?,'))
def test_each_character_graph_refuses_in_the_local_part_is_refused(char):
    normal, problem = check_email(f"ali{char}ce@fabrikam.com")
    assert normal is None and problem


def test_the_schema_a_generator_walks_says_what_validation_enforces():
    schema = json_schema()
    assert schema["required"] == ["email"] and schema["additionalProperties"] is False
    properties = schema["properties"]
    assert set(properties) == {spec.name for spec in INVITATION_FIELDS}
    assert properties["groupIds"]["maxItems"] == 20 and properties["groupIds"]["items"]["format"] == "uuid"
    assert properties["ccRecipients"]["maxItems"] == 1
    assert properties["sendInvitationMessage"]["default"] is True
    assert properties["email"]["maxLength"] == 254 and properties["email"]["format"] == "email"
    assert all(prop["description"] for prop in properties.values())


# ---- property-based: whatever arrives, the answer is a 4xx problem or a success, never a 500 -----------------
_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
_json_values = st.recursive(_scalars,
                            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                            max_leaves=12)
_field_names = st.sampled_from([spec.name for spec in INVITATION_FIELDS]) | st.text(min_size=1, max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(_field_names, _json_values, max_size=6))
def test_arbitrary_json_objects_are_refused_before_any_graph_call_unless_valid(quiet, body):
    quiet.sim.stats.reset()
    request, errors = validate_invitation(body)
    if request is not None:
        return  # a valid request goes on to Graph: covered by the flow tests
    answer = quiet.invite(body)
    assert answer.status == 400
    assert {error["field"] for error in answer.body["errors"]} == {error.field for error in errors}
    assert quiet.sim.stats.count() == 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_never_produce_a_server_error(quiet, raw):
    quiet.sim.stats.reset()
    answer = quiet.invite(None, raw=raw)
    assert 400 <= answer.status < 500
    assert quiet.sim.stats.count() == 0
