"""Domain and group policy: a 403 problem naming what was refused and the setting that governs it, before Graph."""

from __future__ import annotations

import pytest

from shared.policy import domain_matches
from simulator.graph.models import FALCON_GROUP_ID, PARTNERS_GROUP_ID


@pytest.mark.parametrize(("domain", "pattern", "matches"), [
    ("fabrikam.com", "fabrikam.com", True),
    ("FABRIKAM.com", "fabrikam.COM", True),
    ("eu.fabrikam.com", "fabrikam.com", False),
    ("eu.fabrikam.com", "*.fabrikam.com", True),
    ("a.eu.fabrikam.com", "*.fabrikam.com", True),
    ("fabrikam.com", "*.fabrikam.com", False),
    ("evilfabrikam.com", "*.fabrikam.com", False),
    ("fabrikam.com.evil.example", "fabrikam.com", False),
])
def test_domain_patterns(domain, pattern, matches):
    assert domain_matches(domain, pattern) is matches


def test_groups_are_refused_when_no_group_is_allowed(app):
    app.configure(ALLOWED_GROUP_IDS="")
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert answer.status == 403
    assert answer.body["type"].endswith(":policy-refused") and answer.body["settings"] == ["ALLOWED_GROUP_IDS"]
    assert answer.body["errors"] == [{"field": "groupIds[0]",
                                      "message": f"group {PARTNERS_GROUP_ID} is not in the allowed groups"}]
    assert app.sim.stats.count() == 0


def test_only_the_listed_groups_are_allowed(app):
    app.configure(ALLOWED_GROUP_IDS=PARTNERS_GROUP_ID.upper())
    refused = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID, FALCON_GROUP_ID]})
    assert refused.status == 403 and [e["field"] for e in refused.body["errors"]] == ["groupIds[1]"]
    assert app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]}).status == 201


def test_an_invitation_without_groups_needs_no_group_policy(app):
    app.configure(ALLOWED_GROUP_IDS="")
    assert app.invite({"email": "alice@fabrikam.com"}).status == 201


def test_a_blocked_domain_is_refused_naming_the_setting(app):
    app.configure(BLOCKED_EMAIL_DOMAINS="*.fabrikam.com,gmail.com")
    answer = app.invite({"email": "alice@eu.fabrikam.com"})
    assert answer.status == 403 and answer.body["settings"] == ["BLOCKED_EMAIL_DOMAINS"]
    assert answer.body["errors"][0]["field"] == "email"
    assert app.sim.stats.count() == 0


def test_a_domain_outside_the_allowed_list_is_refused(app):
    app.configure(ALLOWED_EMAIL_DOMAINS="fabrikam.com,*.northwind.example")
    assert app.invite({"email": "alice@tailspin.example"}).status == 403
    assert app.invite({"email": "bob@sales.northwind.example"}).status == 201
    assert app.invite({"email": "carol@fabrikam.com"}).status == 201


def test_blocked_wins_over_allowed_and_every_refusal_is_listed(app):
    app.configure(ALLOWED_EMAIL_DOMAINS="*.fabrikam.com", BLOCKED_EMAIL_DOMAINS="lab.fabrikam.com",
                  ALLOWED_GROUP_IDS=FALCON_GROUP_ID)
    answer = app.invite({"email": "eve@lab.fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert answer.status == 403
    assert answer.body["settings"] == ["BLOCKED_EMAIL_DOMAINS", "ALLOWED_GROUP_IDS"]
    assert len(answer.body["errors"]) == 2


# ---- redirectUrl: only hosts the operator allows (issue 13, item 6) -------------------------------------------
def test_a_redirect_to_another_host_is_refused_by_default_without_a_graph_call(app):
    answer = app.invite({"email": "alice@fabrikam.com", "redirectUrl": "https://evil.example/landing"})
    assert answer.status == 403 and answer.body["settings"] == ["ALLOWED_REDIRECT_HOSTS"]
    assert answer.body["errors"] == [{"field": "redirectUrl",
                                      "message": "the host evil.example is not in the allowed redirect hosts"}]
    assert app.sim.stats.count(service="graph") == 0


def test_by_default_only_invite_redirect_urls_host_and_my_apps_are_allowed(app):
    app.configure(INVITE_REDIRECT_URL="https://portal.contoso.com/start")
    assert app.invite({"email": "alice@fabrikam.com", "redirectUrl": "https://portal.contoso.com/other"}).status == 201
    assert app.invite({"email": "bob@fabrikam.com", "redirectUrl": "https://www.contoso.com/"}).status == 403
    # Microsoft's My Apps (the portal's bulk template names it) is allowed by default too
    assert app.invite({"email": "carol@fabrikam.com", "redirectUrl": "https://myapps.microsoft.com"}).status == 201


def test_allowed_redirect_hosts_take_patterns(app):
    app.configure(ALLOWED_REDIRECT_HOSTS="*.contoso.com, fabrikam.com")
    assert app.invite({"email": "alice@fabrikam.com", "redirectUrl": "https://eu.contoso.com/x"}).status == 201
    assert app.invite({"email": "bob@fabrikam.com", "redirectUrl": "https://fabrikam.com/"}).status == 201
    assert app.invite({"email": "carol@fabrikam.com", "redirectUrl": "https://contoso.com.evil.example/"}).status == 403
