"""Security checks: keys on the HTTP doors, the group allow-list's secure default on every door that adds to a
group, and the log check that guards the whole suite (tests/conftest.py: no token or secret in any log record)."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

import devhost
from simulator.graph.models import MEMBER_USER_ID, PARTNERS_GROUP_ID
from tests.conftest import secret_leaks, simulator_secrets

from .doors import Doors
from .inputs import SETTINGS, check_http_answer, check_poison

# Anonymous on purpose (function_app.py): the connector definition, which holds no secret; the signed status link,
# whose signature is its credential (shared/status_links.py; tested below).
ANONYMOUS_BY_DESIGN = {"openapi", "invitation_status_link"}


@pytest.mark.parametrize("name", ["invite", "health", "invitation_status"])
def test_the_invite_and_health_endpoints_need_a_function_key(name: str) -> None:
    trigger = devhost.worker().functions[name].trigger()

    assert trigger["type"] == "httpTrigger"
    assert trigger["authLevel"].upper() == "FUNCTION"


def test_no_http_endpoint_is_anonymous_except_the_connector_definition() -> None:
    triggers = {name: function.trigger() for name, function in devhost.worker().functions.items()}
    anonymous = {name for name, trigger in triggers.items()
                 if trigger["type"] == "httpTrigger" and trigger["authLevel"].upper() == "ANONYMOUS"}

    assert anonymous == ANONYMOUS_BY_DESIGN


@SETTINGS
@given(groups=st.lists(st.one_of(st.sampled_from([PARTNERS_GROUP_ID, "*"]), st.uuids().map(str)), min_size=1,
                       max_size=5, unique=True))
def test_without_allowed_group_ids_every_group_is_refused_before_graph(doors: Doors, groups: list[str]) -> None:
    doors.configure(ALLOWED_GROUP_IDS=None)
    body = json.dumps({"email": "alice@fabrikam.com", "groupIds": groups}).encode()

    answer, queued = doors.invite(body), doors.guest_invitation(body)

    check_http_answer(answer)
    if answer.status == 403:
        assert "ALLOWED_GROUP_IDS" in json.dumps(answer.body)
    assert answer.status in (400, 403) and answer.graph == [] and answer.messages == []
    check_poison(queued)
    assert queued.graph == [] and queued.messages == []


def test_without_allowed_group_ids_an_invitation_without_groups_still_works(doors: Doors) -> None:
    doors.configure(ALLOWED_GROUP_IDS=None)

    answer = doors.invite(json.dumps({"email": "alice@fabrikam.com"}).encode())

    assert answer.status == 201 and answer.messages == []


def test_without_allowed_group_ids_a_membership_message_is_refused(doors: Doors) -> None:
    doors.configure(ALLOWED_GROUP_IDS=None)

    called = doors.membership(json.dumps({"userId": MEMBER_USER_ID, "groupId": PARTNERS_GROUP_ID}).encode())

    assert MEMBER_USER_ID not in doors.sim.graph.members_of(PARTNERS_GROUP_ID)
    check_poison(called)
    assert called.graph == []


def test_the_log_check_finds_and_blanks_an_issued_token(doors: Doors) -> None:
    doors.invite(json.dumps({"email": "megan@contoso.onmicrosoft.com"}).encode())  # MSAL fetches a token
    secrets = simulator_secrets(doors.sim)
    token = next(iter(doors.sim.tokens.issued))
    record = logging.LogRecord("msal", logging.DEBUG, __file__, 1, "response %s", (token,), None)

    leaks = secret_leaks([record], secrets)

    known = token in secrets and doors.sim.identity.default_app.secret in secrets
    shows_part_of_it = token[:20] in "".join(leaks)  # a boolean, so a failure never prints the token itself
    assert known and len(leaks) == 1 and "<secret>" in leaks[0]
    assert not shows_part_of_it


def test_a_whole_invitation_logged_at_debug_holds_no_secret(doors: Doors, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    doors.invite(json.dumps({"email": "new.person@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]}).encode())

    assert {"msal", "urllib3"} <= {record.name.split(".")[0] for record in caplog.records}  # the libraries spoke
    assert doors.sim.tokens.issued
    assert secret_leaks(caplog.records, simulator_secrets(doors.sim)) == []


@SETTINGS
@given(request_id=st.text(max_size=300), expires=st.text(max_size=40), sig=st.text(max_size=120))
def test_the_anonymous_status_link_answers_nothing_without_the_apps_signature(doors: Doors, request_id: str,
                                                                              expires: str, sig: str) -> None:
    from urllib.parse import quote

    url = (f"http://localhost:7071/api/invitations/{quote(request_id, safe='')}/status"
           f"?expires={quote(expires, safe='')}&sig={quote(sig, safe='')}")
    called = doors.host.http("invitation_status_link", "GET", url, route_params={"requestId": request_id})
    called.raise_error()
    assert called.response is not None
    assert called.response.status_code in (403, 404)  # never the record, never a 500
    body = called.response.get_body()
    assert (len(body) < 1000 and request_id[:20].encode() not in body) or len(request_id) < 20
