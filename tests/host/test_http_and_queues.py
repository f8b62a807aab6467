"""devhost's HTTP front (routes, methods and function keys as the host checks them) and its queue runner on Azurite
(host.json's maxDequeueCount, visibilityTimeout and poison queue), with the real worker behind both."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator

import pytest
import requests

import devhost
from devhost.http_server import HttpServer
from devhost.queues import QueueRunner, QueueSettings
from simulator.graph.models import PARTNERS_GROUP_ID, PENDING_GUEST_ID

pytestmark = pytest.mark.azurite
QUEUES = ("group-memberships", "group-memberships-poison")


@pytest.fixture
def server() -> Iterator[HttpServer]:
    front = HttpServer(devhost.worker())
    yield front
    front.close()


def test_a_keyed_function_needs_the_key_in_the_query_or_the_header(app, server: HttpServer) -> None:
    url = server.url("invitations", with_key=False)

    assert requests.post(url, json={}, timeout=30).status_code == 401
    assert requests.post(url + "?code=wrong", json={}, timeout=30).status_code == 401
    assert requests.post(url + f"?code={server.key}", json={}, timeout=30).status_code == 400  # reached the function
    assert requests.post(url, json={}, headers={"x-functions-key": server.key}, timeout=30).status_code == 400


def test_an_anonymous_function_answers_without_a_key_and_unknown_routes_or_methods_are_404(server: HttpServer) -> None:
    assert requests.get(server.url("openapi.json", with_key=False), timeout=30).status_code == 200
    assert requests.get(server.url("invitations"), timeout=30).status_code == 404  # POST only
    assert requests.get(server.url("nothing-here"), timeout=30).status_code == 404


def test_an_invitation_over_http_queues_its_membership_through_the_output_binding(app, azurite: str) -> None:
    app.configure(simulated_waits=True)  # the new guest's first message waits the learned delay in simulated time
    runner = QueueRunner(azurite, devhost.worker())
    runner.clear(*QUEUES)
    front = HttpServer(devhost.worker(), send=runner.send)
    try:
        answer = requests.post(front.url("invitations"), json={"email": "nia@fabrikam.com",
                                                               "groupIds": [PARTNERS_GROUP_ID]}, timeout=30)
    finally:
        front.close()
    assert answer.status_code == 201
    (queued,) = runner.peek("group-memberships")
    assert json.loads(queued)["groupId"] == PARTNERS_GROUP_ID

    deliveries = runner.run_until_empty("add_membership")

    # put back once with the learned first delay (no directory write), then added
    assert [d.error_message for d in deliveries] == [None, None] and runner.peek("group-memberships") == []
    assert app.sim.stats.count(service="graph", method="POST", path=r"/members/\$ref$") == 1
    assert answer.json()["userId"] in app.sim.graph.members_of(PARTNERS_GROUP_ID)


def test_a_replication_lag_wait_is_a_successful_execution_through_the_host(app, azurite: str, caplog) -> None:
    app.configure(simulated_waits=True)
    app.sim.replication_lag = 90
    runner = QueueRunner(azurite, devhost.worker())
    runner.clear(*QUEUES)
    front = HttpServer(devhost.worker(), send=runner.send)
    try:
        answer = requests.post(front.url("invitations"), json={"email": "nia@fabrikam.com",
                                                               "groupIds": [PARTNERS_GROUP_ID]}, timeout=30)
    finally:
        front.close()

    deliveries = runner.run_until_empty("add_membership")

    assert len(deliveries) > 2  # waited out the lag on several deliveries
    assert all(d.error_message is None for d in deliveries)  # none of them a failed execution
    assert not [r for r in caplog.records if r.exc_info or r.levelname == "ERROR"]  # nor an exception record
    assert runner.poisoned_by_host == [] and runner.peek("group-memberships-poison") == []
    assert answer.json()["userId"] in app.sim.graph.members_of(PARTNERS_GROUP_ID)


def _faulty_message() -> str:
    # A fault, not a wait: the app's settings are broken (not-configured), so the function asks for a redelivery.
    return json.dumps({"userId": str(uuid.uuid4()), "groupId": PARTNERS_GROUP_ID})


def test_a_failed_message_stays_invisible_for_host_jsons_visibility_timeout(app, azurite: str) -> None:
    app.configure(simulated_waits=True, ALLOWED_GROUP_IDS="not-a-group-id")
    settings = dataclasses.replace(QueueSettings.from_host_json(), visibility_timeout=30)
    runner = QueueRunner(azurite, devhost.worker(), settings=settings)
    runner.clear(*QUEUES)
    runner.send("group-memberships", _faulty_message())

    (delivery,) = runner.run_once("add_membership")

    assert delivery.error_message is not None and delivery.error_message.startswith("RetryLater")
    assert runner.peek("group-memberships") == []  # not visible again yet
    properties = runner.queue("group-memberships").get_queue_properties()
    assert properties.approximate_message_count == 1  # but not lost
    assert runner.run_once("add_membership") == []


def test_after_max_dequeue_count_failures_the_host_moves_the_original_message_to_poison(app, azurite: str) -> None:
    app.configure(simulated_waits=True, ALLOWED_GROUP_IDS="not-a-group-id")
    settings = dataclasses.replace(QueueSettings.from_host_json(), max_dequeue_count=2, visibility_timeout=0)
    runner = QueueRunner(azurite, devhost.worker(), settings=settings)
    runner.clear(*QUEUES)
    original = _faulty_message()
    runner.send("group-memberships", original)

    runner.run_until_empty("add_membership")

    assert [i.error_message is not None for i in runner.invocations] == [True, True]
    assert runner.peek("group-memberships") == []
    assert runner.peek("group-memberships-poison") == [original]
    assert runner.poisoned_by_host == [("group-memberships", original)]


def test_host_json_sets_what_the_runner_uses() -> None:
    settings = QueueSettings.from_host_json()

    assert settings.message_encoding == "none"
    assert (settings.max_dequeue_count, settings.visibility_timeout, settings.batch_size) == (10, 120.0, 8)


def test_a_known_user_is_added_on_the_first_delivery(app, azurite: str) -> None:
    runner = QueueRunner(azurite, devhost.worker())
    runner.clear(*QUEUES)
    runner.send("group-memberships", json.dumps({"userId": PENDING_GUEST_ID, "groupId": PARTNERS_GROUP_ID}))

    (delivery,) = runner.run_once("add_membership")

    assert delivery.error_message is None and delivery.outputs == {}
    assert PENDING_GUEST_ID in app.sim.graph.members_of(PARTNERS_GROUP_ID)
