"""Structured logs: the fields Application Insights needs, emails masked unless LOG_PII=true, never a secret."""

from __future__ import annotations

import json
import logging

from shared.logging_setup import LOGGER_NAME, mask_email
from simulator.graph.models import PARTNERS_GROUP_ID


def records(caplog, event):
    found = [r for r in caplog.records if r.name == LOGGER_NAME and r.getMessage().startswith(event + " ")]
    return [json.loads(r.getMessage().split(" ", 1)[1]) for r in found]


def test_mask_email_keeps_the_first_character_and_the_domain():
    assert mask_email("alice@fabrikam.com") == "a***@fabrikam.com"
    assert mask_email("to o'brien@fabrikam.com and bob@x.example") == "to o***@fabrikam.com and b***@x.example"


def test_an_invitation_is_logged_with_its_ids_outcome_and_duration_and_a_masked_email(app, caplog):
    app.configure(simulated_waits=True)  # the new guest's first message waits the learned delay in simulated time
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    (done,) = records(caplog, "invite.done")
    assert done["requestId"] == answer.body["requestId"] and done["userId"] == answer.body["userId"]
    assert done["outcome"] == "invited" and isinstance(done["durationMs"], int)
    assert done["email"] == "a***@fabrikam.com"
    app.deliver_until_settled(answer.messages[0])
    (deferred,) = records(caplog, "membership.deferred")
    assert deferred["delaySeconds"] == 5.0 and deferred["requestId"] == answer.body["requestId"]
    (member,) = records(caplog, "membership.done")
    assert member["outcome"] == "added" and member["groupId"] == PARTNERS_GROUP_ID
    assert member["requestId"] == answer.body["requestId"]
    assert "alice@fabrikam.com" not in caplog.text


def test_log_pii_true_logs_addresses_in_full(app, caplog):
    app.configure(LOG_PII="true")
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    app.invite({"email": "alice@fabrikam.com"})
    assert records(caplog, "invite.done")[0]["email"] == "alice@fabrikam.com"


def test_a_graph_refusal_is_logged_with_graphs_request_id(app, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    answer = app.invite({"email": "someone@contoso.com"})
    (refused,) = records(caplog, "invite.refused")
    assert refused["status"] == 422 and refused["graphRequestId"] == answer.body["graphError"]["graphRequestId"]


def test_no_token_secret_or_password_reaches_the_logs(app, caplog):
    caplog.set_level(logging.DEBUG)
    app.configure("pfx")
    app.invite({"email": "alice@fabrikam.com"})
    app.configure("secret", AZURE_CLIENT_SECRET="wrong-secret-value")
    app.invite({"email": "alice@fabrikam.com"})
    text = caplog.text
    assert app.sim.identity.cert_app.certificate_password not in text
    assert "wrong-secret-value" not in text and app.sim.identity.default_app.secret not in text
    assert "eyJ" not in text  # no JWT
