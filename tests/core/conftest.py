"""Call the function app through the real Functions Python worker (devhost), against the simulated tenant.

``app`` configures the environment from the simulator (credential mode chosen per test), resets the per-process
runtime, and offers ``invite(...)`` (an HTTP request as the host sends it) and ``deliver(...)`` (a queue message with
the host's trigger metadata). An exception the function raises is re-raised here, as the worker reported it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueServiceClient

import devhost
from shared import runtime
from shared.wire import MEMBERSHIP_QUEUE
from simulator import Simulator
from tests.tenant_settings import point_app_at


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    messages: list[dict[str, Any]] = field(default_factory=list)


class AppHarness:
    def __init__(self, sim: Simulator, monkeypatch: pytest.MonkeyPatch, storage: str) -> None:
        self.sim = sim
        self.monkeypatch = monkeypatch
        self.storage = storage  # Azurite: the queue a waiting message is put back on, the status table
        self.host = devhost.worker()
        self.waits: list[float] = []
        self.queue_delays: list[float] = []  # each delay a put-back message asked for
        self.queues = QueueServiceClient.from_connection_string(storage)
        self._empty_membership_queue()

    def _empty_membership_queue(self) -> None:
        queue = self.queues.get_queue_client(MEMBERSHIP_QUEUE)
        with contextlib.suppress(ResourceExistsError):
            queue.create_queue()
        queue.clear_messages()  # every message, delayed ones included: each test starts with an empty queue

    def configure(self, mode: str = "secret", *, simulated_waits: bool = False, **settings: str) -> AppHarness:
        """Environment for one credential mode ('secret', 'pem', 'pfx', 'system', 'user'), then a fresh context."""
        self.simulated = simulated_waits
        if simulated_waits:  # the app's waits move the simulator's clock: minutes of replication lag in no time
            timing = runtime.Timing(sleep=self._simulated_sleep, clock=self.sim.clock.now, wall=self.sim.clock.now,
                                    queue_delay=self._simulated_queue_delay)
        else:
            timing = runtime.Timing(sleep=self._real_sleep, queue_delay=self._real_queue_delay)
        settings.setdefault("AzureWebJobsStorage", self.storage)
        point_app_at(self.sim, self.monkeypatch, mode, timing=timing, **settings)
        return self

    def _simulated_queue_delay(self, seconds: float) -> float:
        """A put-back message waits in simulated time: the clock moves by the delay, the message is visible now."""
        self.queue_delays.append(seconds)
        self.sim.clock.advance(seconds)
        return 0.0

    def _real_queue_delay(self, seconds: float) -> float:
        self.queue_delays.append(seconds)
        return seconds

    def _real_sleep(self, seconds: float) -> None:
        import time

        self.waits.append(seconds)
        time.sleep(seconds)

    def _simulated_sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.sim.clock.advance(seconds)

    # ---- doors ----------------------------------------------------------------------------------------------
    def invite(self, body: Any, *, headers: dict[str, str] | None = None, raw: bytes | None = None) -> Answer:
        data = raw if raw is not None else json.dumps(body).encode("utf-8")
        called = self.host.http("invite", "POST", "http://localhost:7071/api/invitations",
                                headers={"Content-Type": "application/json", **(headers or {})}, body=data)
        called.raise_error()
        response = called.response
        assert response is not None
        messages = [json.loads(m) for m in called.outputs.get("group-memberships", [])]
        return Answer(response.status_code, json.loads(response.get_body() or b"null"), dict(response.headers),
                      messages)

    def deliver(self, message: Any, dequeue_count: int = 1, *, encoding: str = "plain") -> dict[str, Any] | None:
        """One delivery of a group-memberships message; the poison message written, if any. RetryLater propagates."""
        text = message if isinstance(message, str) else json.dumps(message)
        if encoding == "base64":
            text = base64.b64encode(text.encode("utf-8")).decode("ascii")
        called = self.host.queue("add_membership", text, message_id="m-1", dequeue_count=dequeue_count)
        called.raise_error()
        poison = called.outputs.get("group-memberships-poison", [])
        assert len(poison) <= 1
        return json.loads(poison[0]) if poison else None

    def put_back(self, wait: float = 0.0) -> list[dict[str, Any]]:
        """The membership messages put back on the queue (visible within ``wait`` seconds), taken off it."""
        queue = self.queues.get_queue_client(MEMBERSHIP_QUEUE)
        deadline = time.monotonic() + wait
        while True:
            found = []
            for item in queue.receive_messages(max_messages=32, visibility_timeout=60):
                found.append(json.loads(item.content))
                queue.delete_message(item)
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.1)

    def deliver_until_settled(self, message: Any, *, max_deliveries: int = 40) -> tuple[int, dict[str, Any] | None]:
        """Deliver a message, then every copy the worker puts back (in real time: once its delay has passed),
        until none is: (deliveries, the last poison message)."""
        pending: list[Any] = [message]
        deliveries, poison = 0, None
        while pending and deliveries < max_deliveries:
            deliveries += 1
            asked = len(self.queue_delays)
            poison = self.deliver(pending.pop(0))
            new_delays = self.queue_delays[asked:]
            pending.extend(self.put_back(max(new_delays) + 2 if new_delays and not self.simulated else 0.0))
        assert not pending, f"still waiting after {deliveries} deliveries"
        return deliveries, poison

    def status(self, request_id: str) -> Any:
        from shared import status

        return status.store().read(request_id)

    def graph_calls(self) -> int:
        return self.sim.stats.count(service="graph")

    def token_fetches(self) -> int:
        return self.sim.stats.count(service="login", route="token") + self.sim.stats.count(service="msi")


@pytest.fixture
def app(trust_sim: Simulator, monkeypatch: pytest.MonkeyPatch, azurite: str) -> Iterator[AppHarness]:
    harness = AppHarness(trust_sim, monkeypatch, azurite).configure()
    yield harness
    runtime.reset()
