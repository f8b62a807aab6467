"""The identity platform failing with a 5xx, in secret/certificate mode: msal raises MsalServiceError for a 5xx from
the OpenID configuration (authority.tenant_discovery) and from the token endpoint (oauth2cli). Each door must treat
it as the identity platform being unavailable (503 with Retry-After, a redelivery, a poison with the reason), never
as a bug (500) or a reasonless failure."""

from __future__ import annotations

import pytest

from shared import runtime
from shared.membership import RetryLater
from simulator.graph.models import PARTNERS_GROUP_ID, PENDING_GUEST_ID

OPENID = r"openid-configuration$"
TOKEN = r"/oauth2/v2\.0/token$"
MEMBERSHIP = {"userId": PENDING_GUEST_ID, "groupId": PARTNERS_GROUP_ID}


@pytest.mark.parametrize("path", [OPENID, TOKEN], ids=["openid-configuration", "token"])
def test_an_identity_platform_5xx_answers_503_identity_unavailable(app, path):
    app.configure()
    app.sim.faults.add(service="login", path=path, status=503)

    answer = app.invite({"email": "alice@fabrikam.com"})

    assert answer.status == 503
    assert answer.body["type"].endswith(":identity-unavailable") and answer.headers["Retry-After"]
    assert app.graph_calls() == 0 and answer.messages == []


@pytest.mark.parametrize("path", [OPENID, TOKEN], ids=["openid-configuration", "token"])
def test_a_membership_during_an_identity_platform_5xx_is_redelivered(app, path):
    app.configure()
    app.sim.faults.add(service="login", path=path, status=503)

    with pytest.raises(RetryLater):
        app.deliver(MEMBERSHIP, dequeue_count=1)


@pytest.mark.parametrize("path", [OPENID, TOKEN], ids=["openid-configuration", "token"])
def test_a_membership_still_failing_on_the_last_delivery_is_poisoned_with_the_reason(app, path):
    app.configure()
    app.sim.faults.add(service="login", path=path, status=503)

    poison = app.deliver(MEMBERSHIP, dequeue_count=runtime.max_dequeue_count())

    assert poison is not None and poison["message"] == MEMBERSHIP
    assert poison["error"]["code"] in ("authorityUnavailable", "tokenRequestFailed")
