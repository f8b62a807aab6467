"""Throttling, outages, dropped connections and lost answers: retried within the budget, honouring Retry-After,
answered 429/503 with Retry-After past it, and never an invitation (or its email) doubled."""

from __future__ import annotations

import time

import pytest

from shared.graph import MAX_ATTEMPTS
from simulator.graph.models import PARTNERS_GROUP_ID
from simulator.tokens import TokenIssuer

USERS = r"/v1\.0/users$"
INVITES = r"/v1\.0/invitations$"


def graph_posts(app, path=INVITES) -> int:
    return app.sim.stats.count(service="graph", method="POST", path=path)


def lookups(app) -> int:
    return app.sim.stats.count(service="graph", method="GET", path=USERS)


def test_a_429_with_retry_after_is_waited_out_and_retried(app):
    app.sim.faults.add(service="graph", method="POST", path=INVITES, status=429, retry_after=1, times=1)
    answer = app.invite({"email": "alice@fabrikam.com"})
    assert answer.status == 201
    assert app.waits == [1]
    assert graph_posts(app) == 2 and app.sim.graph.emails_to("alice@fabrikam.com") == 1


def test_a_429_without_retry_after_backs_off_exponentially(app):
    app.configure(simulated_waits=True)
    app.sim.faults.add(service="graph", method="GET", path=USERS, status=429, times=3)
    answer = app.invite({"email": "alice@fabrikam.com"})
    assert answer.status == 201
    assert len(app.waits) == 3 and all(wait > 0 for wait in app.waits)
    assert app.waits[2] > app.waits[0]  # equal jitter keeps each wait within [half, full] of a doubling ceiling


def test_a_503_with_retry_after_zero_is_retried_at_once(app):
    app.sim.faults.add(service="graph", method="GET", path=USERS, status=503, retry_after=0, times=2)
    assert app.invite({"email": "alice@fabrikam.com"}).status == 201
    assert app.waits == [0, 0]


def test_a_503_without_retry_after_is_retried_with_backoff(app):
    app.configure(simulated_waits=True)
    app.sim.faults.add(service="graph", method="GET", path=USERS, status=503, times=1)
    assert app.invite({"email": "alice@fabrikam.com"}).status == 201
    assert len(app.waits) == 1 and app.waits[0] > 0


def test_throttling_past_the_budget_answers_429_with_graphs_retry_after(app):
    app.sim.faults.add(service="graph", method="GET", path=USERS, status=429, retry_after=120)
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": []})
    assert answer.status == 429
    assert answer.headers["Retry-After"] == "120"
    assert answer.body["type"].endswith(":graph-throttled") and answer.body["graphError"]["code"] == "TooManyRequests"
    assert app.sim.stats.count(service="graph") == 1  # no point retrying inside the budget
    assert answer.messages == []


def test_an_outage_past_the_retries_answers_503_with_retry_after(app):
    app.configure(simulated_waits=True)
    app.sim.faults.add(service="graph", method="GET", path=USERS, status=503)
    answer = app.invite({"email": "alice@fabrikam.com"})
    assert answer.status == 503 and int(answer.headers["Retry-After"]) > 0
    assert answer.body["type"].endswith(":graph-unavailable")
    assert app.sim.stats.count(service="graph") == MAX_ATTEMPTS


def test_a_dropped_lookup_is_retried(app):
    app.sim.faults.add(service="graph", method="GET", path=USERS, drop=True, times=1)
    assert app.invite({"email": "alice@fabrikam.com"}).status == 201


def test_an_invitation_whose_connection_dropped_is_not_posted_again_until_its_claim_expired(app):
    # Graph never saw this POST, but the client cannot know it (the connection closed after sending): the request
    # looks the person up a few times, posts nothing more, and tells the caller to come back when the claim ends.
    app.configure(simulated_waits=True, INVITE_CLAIM_SECONDS="3")
    app.sim.faults.add(service="graph", method="POST", path=INVITES, drop=True, times=1)
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert answer.status == 503 and answer.body["type"].endswith(":invitation-unconfirmed")
    assert answer.body["graphError"]["status"] is None
    retry_after = int(answer.headers["Retry-After"])
    assert 1 <= retry_after <= 3  # the claim's remaining seconds
    assert graph_posts(app) == 1 and app.sim.graph.emails_to("alice@fabrikam.com") == 0
    assert lookups(app) >= 3  # the lookup before the POST, then several after the loss (the client's backoff)
    assert answer.messages == []

    time.sleep(retry_after)  # the claim's expiry is wall-clock time (shared/claims.py)
    retry = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert retry.status == 201  # the claim expired: taken over, looked up once more, then posted
    assert graph_posts(app) == 2 and app.sim.graph.emails_to("alice@fabrikam.com") == 1
    assert len(retry.messages) == 1


def test_an_invitation_applied_but_whose_answer_was_lost_is_not_sent_again(app):
    app.sim.faults.add(service="graph", method="POST", path=INVITES, drop_after=True, times=1)
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": ["1b5e0c9a-0000-4000-8000-000000000001"]})
    assert answer.status == 200  # what a retry by the caller would have answered
    assert answer.body["userId"] == app.sim.graph.user_by_mail("alice@fabrikam.com")["id"]
    assert graph_posts(app) == 1 and app.sim.graph.emails_to("alice@fabrikam.com") == 1
    assert len(answer.messages) == 1


def test_a_gateway_timeout_on_the_invitation_is_looked_up_not_posted_again(app):
    app.configure(simulated_waits=True)
    app.sim.faults.add(service="graph", method="POST", path=INVITES, status=504, times=1)
    answer = app.invite({"email": "alice@fabrikam.com"})
    assert answer.status == 503 and answer.body["type"].endswith(":invitation-unconfirmed")
    assert answer.body["graphError"]["status"] == 504
    # Retry-After reaches the end of the address's claim (INVITE_CLAIM_SECONDS, 180 s by default): a sooner retry
    # could only be told to wait on it.
    assert 150 <= int(answer.headers["Retry-After"]) <= 180
    assert lookups(app) >= 3
    assert graph_posts(app) == 1 and app.sim.graph.emails_to("alice@fabrikam.com") == 0


@pytest.mark.parametrize("mode", ["secret", "system"])
def test_a_rejected_token_is_replaced_once_and_the_call_succeeds(app, mode):
    app.configure(mode)
    assert app.invite({"email": "adele@fabrikam.com"}).status == 200
    app.sim.tokens = TokenIssuer()  # a new signing key: Graph now rejects the cached token with 401
    assert app.invite({"email": "adele@fabrikam.com"}).status == 200
    assert app.token_fetches() == 2
    assert app.sim.stats.count(service="graph", path=USERS) == 3  # 200, 401, 200


def test_graph_refusing_every_token_is_a_502_not_a_loop(app):
    app.sim.faults.add(service="graph", method="GET", path=USERS, status=401)
    answer = app.invite({"email": "adele@fabrikam.com"})
    assert answer.status == 502 and answer.body["graphError"]["status"] == 401
    assert app.sim.stats.count(service="graph", path=USERS) == 2  # one retry with a fresh token, then stop
    assert app.token_fetches() == 2


def test_graphs_own_invitation_limit_is_ridden_out_with_its_retry_after(app):
    from simulator.graph.throttling import Budget

    app.configure(simulated_waits=True)
    app.sim.graph.limits["invitations"] = Budget(2, 5.0)  # the tenant's 150 per 5 s, scaled down
    answers = [app.invite({"email": f"guest{index}@fabrikam.com"}) for index in range(5)]
    assert [answer.status for answer in answers] == [201] * 5
    assert app.waits and all(wait >= 1 for wait in app.waits)  # Graph's Retry-After, not our backoff
    assert app.sim.stats.count(service="graph", method="POST", path=INVITES) == 5 + len(app.waits)
    assert all(app.sim.graph.emails_to(f"guest{index}@fabrikam.com") == 1 for index in range(5))


def test_a_resend_whose_answer_was_lost_is_not_posted_a_second_time(app):
    app.sim.faults.add(service="graph", method="POST", path=INVITES, drop_after=True, times=1)
    answer = app.invite({"email": "adele@fabrikam.com", "resendInvitation": True})
    assert answer.status == 503 and answer.body["type"].endswith(":invitation-unconfirmed")
    assert answer.body["graphError"]["status"] is None  # no answer: the caller may retry (a new resend)
    assert answer.headers["Retry-After"] == "30"  # a resend takes no claim: Graph's value, else 30
    assert graph_posts(app) == 1
    assert lookups(app) == 1  # the guest existed before: a lookup after the loss could not tell


def test_a_lookup_answered_with_a_page_that_is_not_json_is_retried_not_a_500(app):
    # A proxy in front of Graph can answer 200 with an HTML page: no exception escapes, the GET is simply retried.
    app.sim.faults.add(service="graph", method="GET", path=USERS, status=200, body=b"<html>gateway</html>", times=1)
    answer = app.invite({"email": "alice@fabrikam.com"})
    assert answer.status == 201
    assert app.sim.stats.count(service="graph", method="GET", path=USERS) == 2


def test_an_invitation_answered_with_a_page_that_is_not_json_is_looked_up_not_posted_again(app):
    app.configure(simulated_waits=True)
    app.sim.faults.add(service="graph", method="POST", path=INVITES, status=200, body=b"<html>ok?</html>", times=1)
    answer = app.invite({"email": "alice@fabrikam.com"})
    assert answer.status == 503 and answer.body["type"].endswith(":invitation-unconfirmed")
    assert lookups(app) >= 3  # looked up again, and again, instead of posting a second time
    assert graph_posts(app) == 1 and app.sim.graph.emails_to("alice@fabrikam.com") == 0


def test_an_invitation_refused_before_graph_did_anything_is_posted_again_at_once(app):
    # 503 (like 429) says Graph did nothing: not a lost answer, so the client itself posts again within the call.
    app.sim.faults.add(service="graph", method="POST", path=INVITES, status=503, retry_after=0, times=1)
    answer = app.invite({"email": "alice@fabrikam.com"})
    assert answer.status == 201
    assert lookups(app) == 1 and graph_posts(app) == 2
    assert app.sim.graph.emails_to("alice@fabrikam.com") == 1
