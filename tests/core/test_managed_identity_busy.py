"""The managed identity endpoint answering 5xx or 429 is the platform being busy, not a configuration error:
azure-identity raises the same CredentialUnavailableError as for "no managed identity here", so the app reads the
status from the endpoint's answer. Each door: 503 with the endpoint's Retry-After, a redelivery, never a 502."""

from __future__ import annotations

import pytest

from shared.membership import RetryLater
from simulator.graph.models import PARTNERS_GROUP_ID, PENDING_GUEST_ID

MEMBERSHIP = {"userId": PENDING_GUEST_ID, "groupId": PARTNERS_GROUP_ID}


@pytest.mark.parametrize(("status", "retry_after", "expected_retry_after"),
                         [(500, None, "30"), (502, None, "30"), (503, 5, "5"), (429, 7, "7")])
def test_a_busy_managed_identity_endpoint_answers_503_with_its_retry_after(app, status, retry_after,
                                                                          expected_retry_after):
    app.configure("system")
    app.sim.faults.add(service="msi", status=status, retry_after=retry_after)

    answer = app.invite({"email": "alice@fabrikam.com"})

    assert answer.status == 503, answer.body
    assert answer.body["type"].endswith(":identity-unavailable")
    assert answer.body["credentialError"]["code"] == "identityEndpointUnavailable"
    assert answer.headers["Retry-After"] == expected_retry_after
    assert app.graph_calls() == 0 and answer.messages == []
    # One request: the library does not sleep out the Retry-After inside the call; the caller is told to wait.
    assert app.sim.stats.count(service="msi") == 1


def test_a_membership_meeting_a_busy_managed_identity_endpoint_is_redelivered(app):
    app.configure("user")
    app.sim.faults.add(service="msi", status=503, retry_after=3)
    with pytest.raises(RetryLater):
        app.deliver(MEMBERSHIP, dequeue_count=1)


def test_an_unknown_user_assigned_identity_is_still_the_operators_problem(app):
    app.configure("system", AZURE_CLIENT_ID="00000000-0000-4000-8000-0000000000ff")
    answer = app.invite({"email": "alice@fabrikam.com"})
    assert answer.status == 502 and answer.body["type"].endswith(":credential-refused")
    assert "Retry-After" not in answer.headers
