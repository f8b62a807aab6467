"""Logic Apps retries (and any replay) are harmless: one invitation email per person, and the repeated membership
messages end as "already a member", which counts as done."""

from __future__ import annotations

from simulator.graph.models import FALCON_GROUP_ID, PARTNERS_GROUP_ID

INVITES = r"/v1\.0/invitations$"
USERS = r"/v1\.0/users$"
BODY = {"email": "alice@fabrikam.com", "displayName": "Alice", "groupIds": [PARTNERS_GROUP_ID, FALCON_GROUP_ID]}
RUN_ID = {"x-ms-client-request-id": "08584471939432152645123456789CU00"}  # a Logic Apps run id, the same on retry


def invitations_posted(app) -> int:
    return app.sim.stats.count(service="graph", method="POST", path=INVITES)


def deliver_all(app, messages: list[dict]) -> list[dict]:
    """Each membership message, and every copy the worker puts back, as the host would; the poison messages."""
    return [poison for message in messages if (poison := app.deliver_until_settled(message)[1]) is not None]


def test_a_replayed_request_sends_one_email_and_its_memberships_are_harmless(app):
    first = app.invite(BODY, headers=RUN_ID)
    replay = app.invite(BODY, headers=RUN_ID)

    assert (first.status, replay.status) == (201, 200)
    assert replay.body["userId"] == first.body["userId"] and replay.body["invited"] is False
    assert invitations_posted(app) == 1 and app.sim.graph.emails_to("alice@fabrikam.com") == 1
    assert len(first.messages) == len(replay.messages) == 2

    assert deliver_all(app, first.messages + replay.messages) == []
    assert app.sim.stats.count(service="graph", method="POST", path=r"/members/\$ref$") == 4  # 2 of them: already
    for group_id in (PARTNERS_GROUP_ID, FALCON_GROUP_ID):
        assert app.sim.graph.members_of(group_id).count(first.body["userId"]) == 1


def test_a_retry_after_a_throttled_answer_invites_once(app):
    app.sim.faults.add(service="graph", method="GET", path=USERS, status=429, retry_after=120, times=1)
    throttled = app.invite(BODY, headers=RUN_ID)  # Logic Apps' default policy retries this 429
    retried = app.invite(BODY, headers=RUN_ID)

    assert (throttled.status, retried.status) == (429, 201)
    assert throttled.messages == [] and len(retried.messages) == 2
    assert app.sim.graph.emails_to("alice@fabrikam.com") == 1


def test_many_replays_never_add_a_second_email_or_a_failing_message(app):
    answers = [app.invite(BODY, headers=RUN_ID) for _ in range(5)]

    assert [answer.status for answer in answers] == [201, 200, 200, 200, 200]
    assert app.sim.graph.emails_to("alice@fabrikam.com") == 1
    assert deliver_all(app, [message for answer in answers for message in answer.messages]) == []


def test_the_http_and_queue_doors_together_still_send_one_email(app):
    answer = app.invite(BODY)
    queued, poison = app.deliver_invitation(BODY)

    assert (answer.status, poison) == (201, None)
    assert app.sim.graph.emails_to("alice@fabrikam.com") == 1
    assert deliver_all(app, answer.messages + queued) == []
