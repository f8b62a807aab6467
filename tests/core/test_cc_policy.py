"""A cc recipient receives the invitation email too: the domain rules apply to it as to the person invited."""

from __future__ import annotations


def test_a_cc_on_a_blocked_domain_is_refused_and_no_email_is_sent(app):
    app.configure(BLOCKED_EMAIL_DOMAINS="evil.example")
    answer = app.invite({"email": "alice@fabrikam.com", "ccRecipients": ["spy@evil.example"]})
    assert answer.status == 403
    assert answer.body["errors"] == [{"field": "ccRecipients[0]",
                                      "message": "the domain evil.example is blocked (matches 'evil.example')"}]
    assert answer.body["settings"] == ["BLOCKED_EMAIL_DOMAINS"]
    assert app.graph_calls() == 0 and app.sim.graph.emails == []


def test_a_cc_outside_the_allowed_domains_is_refused_naming_the_setting(app):
    app.configure(ALLOWED_EMAIL_DOMAINS="fabrikam.com")
    answer = app.invite({"email": "alice@fabrikam.com", "ccRecipients": ["bob@elsewhere.example"]})
    assert answer.status == 403 and answer.body["settings"] == ["ALLOWED_EMAIL_DOMAINS"]
    assert [error["field"] for error in answer.body["errors"]] == ["ccRecipients[0]"]


def test_a_cc_on_an_allowed_domain_gets_the_invitation(app):
    app.configure(ALLOWED_EMAIL_DOMAINS="fabrikam.com")
    answer = app.invite({"email": "alice@fabrikam.com", "ccRecipients": ["bob@fabrikam.com"]})
    assert answer.status == 201
