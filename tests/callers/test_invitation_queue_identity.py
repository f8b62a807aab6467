"""guest-invitations when the identity platform is down as the token provider is built (MSAL reads the authority's
OpenID configuration first): a transient failure, redelivered, then poisoned with that reason, never as a bug."""

from __future__ import annotations

import pytest

from shared import runtime
from shared.membership import RetryLater

ALICE = {"email": "alice@fabrikam.com"}
OPENID = r"openid-configuration$"


def test_an_authority_outage_is_redelivered_not_treated_as_a_bug(app, caplog):
    app.sim.faults.add(service="login", path=OPENID, status=503)

    with pytest.raises(RetryLater):
        app.deliver_invitation(ALICE, dequeue_count=1)

    assert not [record for record in caplog.records if "intake.bug" in record.getMessage()]


def test_an_authority_outage_on_the_last_delivery_is_poisoned_with_the_credential_reason(app):
    app.sim.faults.add(service="login", path=OPENID, status=503)

    memberships, poison = app.deliver_invitation(ALICE, dequeue_count=runtime.max_dequeue_count())

    assert memberships == []
    assert poison["error"]["problem"].endswith(":identity-unavailable")
    assert poison["error"]["credentialError"]["code"] == "authorityUnavailable"
    assert app.sim.graph.emails_to("alice@fabrikam.com") == 0
