"""The claim's rules one at a time, through the real worker (HTTP and guest-invitations doors) with Azurite: a
racer facing a live claim waits, then answers the transient verdict; a refused invitation frees the claim at once;
a lost answer keeps it until the expiry; a recorded outcome answers a request whose lookup misses the new guest;
an old outcome is taken over after a fresh lookup; a storage outage fails closed; the table holds no address."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient, TableServiceClient

from shared import runtime
from shared.claims import DONE, PENDING, ROW_KEY, TABLE, WAIT_SECONDS, claim_key
from shared.membership import RetryLater
from simulator import Simulator
from tests.callers.conftest import CallersHarness
from tests.claims.conftest import INVITE_POST, invitation_posts

pytestmark = pytest.mark.azurite


@pytest.fixture
def table(azurite: str) -> TableClient:
    service = TableServiceClient.from_connection_string(azurite)
    service.delete_table(TABLE)
    return service.get_table_client(TABLE)


@pytest.fixture
def app(trust_sim: Simulator, monkeypatch: pytest.MonkeyPatch, azurite: str,
        table: TableClient) -> Iterator[CallersHarness]:
    trust_sim.graph.repeat_invitation_email = "always"
    harness = CallersHarness(trust_sim, monkeypatch, azurite).configure()
    yield harness
    runtime.reset()


def _held(table: TableClient, email: str, *, seconds: float, state: str = PENDING, user_id: str = "") -> None:
    """A claim as another instance left it (its holder busy, crashed, or done)."""
    with contextlib.suppress(ResourceExistsError):
        table.create_table()
    table.upsert_entity({"PartitionKey": claim_key(email), "RowKey": ROW_KEY, "State": state, "Holder": "other",
                         "ExpiresAt": dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds), "UserId": user_id})


def test_a_racer_facing_a_live_claim_waits_then_answers_503_with_retry_after_and_posts_nothing(app, table):
    email = "slow.holder@fabrikam.com"
    _held(table, email, seconds=120)
    started = time.monotonic()

    answer = app.invite({"email": email})

    assert answer.status == 503
    assert answer.body["type"] == "urn:guest-onboarding:problem:invitation-in-progress"
    assert 1 <= int(answer.headers["Retry-After"]) <= 30
    assert WAIT_SECONDS - 1 <= time.monotonic() - started < WAIT_SECONDS + 10  # a brief wait, bounded
    assert invitation_posts(app.sim) == 0
    with pytest.raises(RetryLater):  # the queue door: a redelivery later
        app.deliver_invitation({"email": email})
    assert invitation_posts(app.sim) == 0


def test_an_uncontended_invitation_records_its_outcome_and_the_table_holds_no_address(app, table):
    email = "Quiet.Person@fabrikam.com"
    answer = app.invite({"email": email})
    assert answer.status == 201
    entities = list(table.list_entities())
    assert len(entities) == 1
    entity = entities[0]
    assert entity["PartitionKey"] == claim_key("quiet.person@fabrikam.com")  # one person whatever the case
    assert entity["State"] == DONE and entity["UserId"] == answer.body["userId"]
    assert "quiet" not in str(dict(entity)).lower() and "fabrikam" not in str(dict(entity)).lower()


def test_a_recorded_outcome_answers_a_request_whose_lookup_misses_the_new_guest(app):
    app.sim.replication_lag = 60.0  # the new guest stays invisible to GET /users for a minute
    app.sim.graph.replication_hides_lookups = True
    first = app.invite({"email": "fresh.guest@fabrikam.com"})
    second = app.invite({"email": "fresh.guest@fabrikam.com"})
    assert (first.status, second.status) == (201, 200)
    assert second.body["userId"] == first.body["userId"]
    assert invitation_posts(app.sim) == 1
    assert app.sim.graph.emails_to("fresh.guest@fabrikam.com") == 1


def test_a_refused_invitation_frees_the_claim_at_once(app, table):
    email = "refused@fabrikam.com"
    app.sim.faults.add(service="graph", method="POST", path=INVITE_POST, status=403, times=1)
    first = app.invite({"email": email})
    assert first.status in (422, 502)
    assert list(table.list_entities()) == []  # nobody waits for an invitation that was never sent
    second = app.invite({"email": email})
    assert second.status == 201


def test_a_lost_answer_keeps_the_claim_until_it_expires(app, table):
    email = "lost.answer@fabrikam.com"
    app.sim.faults.add(service="graph", method="POST", path=INVITE_POST, drop=True)  # every POST: no answer
    answer = app.invite({"email": email})
    assert answer.status == 503
    entity = table.get_entity(claim_key(email), ROW_KEY)
    assert entity["State"] == PENDING  # the POST may have been applied: the next taker must look up first


def test_an_expired_claim_is_taken_over_and_the_person_looked_up_first(app, table):
    email = "invited.before@fabrikam.com"
    existing = app.sim.graph.add_user(email, "Invited Before", user_type="Guest", other_mails=[email],
                                      external_user_state="PendingAcceptance")
    _held(table, email, seconds=-1)  # a crashed holder's claim, expired: it had invited before it died
    # The lookup before the claim misses the guest (as while Graph replicates the crashed holder's invitation);
    # the lookup after taking the claim over finds them.
    lookups = {"count": 0}
    replicated = app.sim.graph.replicated

    def visible_from_the_second_lookup(user_id: str) -> bool:
        lookups["count"] += 1
        return lookups["count"] > 1 and replicated(user_id)

    app.sim.graph.replicated = visible_from_the_second_lookup  # type: ignore[method-assign]
    app.sim.graph.replication_hides_lookups = True
    answer = app.invite({"email": email})
    assert answer.status == 200
    assert answer.body["userId"] == existing["id"]
    assert invitation_posts(app.sim) == 0
    assert table.get_entity(claim_key(email), ROW_KEY)["UserId"] == existing["id"]


def test_a_storage_outage_fails_closed_with_503_and_no_invitation(app, monkeypatch):
    closed = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
              "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;")
    app.configure(AzureWebJobsStorage=closed)
    answer = app.invite({"email": "no.storage@fabrikam.com"})
    assert answer.status == 503
    assert answer.body["type"] == "urn:guest-onboarding:problem:storage-unavailable"
    assert "Retry-After" in answer.headers
    assert invitation_posts(app.sim) == 0
