"""An invitation whose answer is lost while Graph's replication hides the new guest from lookups, through the real
worker (HTTP and guest-invitations doors) with Azurite, and a Graph that emails every repeat invitation: the
request never posts a second time (shared/onboarding.py), so the guest gets one email; the caller is told to come
back (503 + Retry-After up to the end of the address's claim, or a queue redelivery); a retry while the guest is
still hidden posts nothing (the claim is held); the retry after the lag answers 200 with the same userId."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared import runtime
from shared.claims import DEFAULT_EXPIRY_SECONDS
from shared.failures import RetryLater
from simulator import Simulator
from simulator.graph.models import PARTNERS_GROUP_ID
from tests.callers.conftest import CallersHarness
from tests.claims.conftest import INVITE_POST, invitation_posts

pytestmark = pytest.mark.azurite

LAG = 120.0  # simulated seconds the new guest stays invisible, to writes and to GET /users
PROBLEM = "urn:guest-onboarding:problem:"


@pytest.fixture
def app(trust_sim: Simulator, monkeypatch: pytest.MonkeyPatch, azurite: str) -> Iterator[CallersHarness]:
    trust_sim.graph.repeat_invitation_email = "always"  # any second POST would show as a second email
    trust_sim.graph.replication_hides_lookups = True
    trust_sim.replication_lag = LAG
    # The app's waits move the simulated clock (the lookups after the loss cannot outwait the lag by accident);
    # the claim's expiry stays wall-clock time, as across instances.
    harness = CallersHarness(trust_sim, monkeypatch, azurite).configure(simulated_waits=True)
    # Graph applies the invitation (the guest is created, the email sent), then the connection closes unanswered.
    trust_sim.faults.add(service="graph", method="POST", path=INVITE_POST, drop_after=True, times=1)
    yield harness
    runtime.reset()


def _lookups(sim: Simulator) -> int:
    return sim.stats.count(service="graph", method="GET", path=r"/users$")


def test_a_lost_answer_under_lag_sends_one_email_answers_503_then_the_same_user_id(app):
    email = "lost.in.lag@fabrikam.com"
    body = {"email": email, "groupIds": [PARTNERS_GROUP_ID]}

    first = app.invite(body)

    assert first.status == 503 and first.body["type"] == PROBLEM + "invitation-unconfirmed", first.body
    # Come back when the claim ends: then the guest is visible, or a try may take the claim over and look up again.
    assert DEFAULT_EXPIRY_SECONDS - 30 <= int(first.headers["Retry-After"]) <= DEFAULT_EXPIRY_SECONDS
    assert first.messages == []  # nothing queued for a user the app does not know yet
    assert _lookups(app.sim) >= 3  # looked for the guest a few times before answering
    assert invitation_posts(app.sim) == 1 and app.sim.graph.emails_to(email) == 1
    user_id = app.sim.graph.user_by_mail(email)["id"]

    early = app.invite(body)  # a caller that does not wait: the guest is still hidden

    assert early.status == 503 and early.body["type"] == PROBLEM + "invitation-in-progress", early.body
    assert invitation_posts(app.sim) == 1 and app.sim.graph.emails_to(email) == 1  # the claim is held: no POST

    app.sim.clock.advance(LAG)  # Graph has replicated the guest
    later = app.invite(body)

    assert later.status == 200 and later.body["invited"] is False
    assert later.body["userId"] == user_id
    assert [message["userId"] for message in later.messages] == [user_id]
    assert invitation_posts(app.sim) == 1 and app.sim.graph.emails_to(email) == 1


def test_a_lost_answer_under_lag_on_the_queue_is_delivered_again_and_sends_one_email(app):
    email = "queued.lost.in.lag@fabrikam.com"
    message = {"email": email, "groupIds": [PARTNERS_GROUP_ID]}

    with pytest.raises(RetryLater):  # the host delivers it again after host.json's visibilityTimeout (2 min)
        app.deliver_invitation(message, dequeue_count=1)
    assert invitation_posts(app.sim) == 1 and app.sim.graph.emails_to(email) == 1

    app.sim.clock.advance(LAG)
    memberships, poison = app.deliver_invitation(message, dequeue_count=2)

    assert poison is None
    assert [item["userId"] for item in memberships] == [app.sim.graph.user_by_mail(email)["id"]]
    assert invitation_posts(app.sim) == 1 and app.sim.graph.emails_to(email) == 1
