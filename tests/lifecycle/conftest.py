"""The guest lifecycle through the real worker (devhost) against the simulated tenant and a real Azurite: invitations
over HTTP, group-memberships run by the queue runner, the hourly timer invoked as the host invokes it, and the app's
wall clock on the simulator's clock, so "a day later" is ``sim.clock.advance(86400)``."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from devhost import worker
from devhost.queues import QueueRunner, QueueSettings
from guest_cli import main as cli_main
from shared import app_context
from shared.app_context import Timing
from simulator import Simulator
from tests.tenant_settings import apply, point_app_at

QUEUES = ("group-memberships", "group-memberships-poison", "guest-expiring")


class LifecycleApp:
    def __init__(self, sim: Simulator, monkeypatch: pytest.MonkeyPatch, connection_string: str) -> None:
        self.sim = sim
        self.monkeypatch = monkeypatch
        self.connection_string = connection_string
        self.worker = worker()
        settings = dataclasses.replace(QueueSettings.from_host_json(), visibility_timeout=0)
        self.queues = QueueRunner(connection_string, self.worker, settings=settings)
        self.queues.clear(*QUEUES)
        tables = TableServiceClient.from_connection_string(connection_string)
        tables.delete_table("guestgrants")  # each test starts with no grant
        # the app's waits (Retry-After, backoff) move the simulator's clock, and its wall clock is the simulator's
        # A put-back message (a wait, or a new guest's learned first delay) waits in simulated time: visible at once.
        self.timing = Timing(sleep=sim.clock.advance, clock=sim.clock.now, wall=sim.clock.now,
                             queue_delay=self._simulated_queue_delay)
        point_app_at(sim, monkeypatch, "secret", timing=self.timing, AzureWebJobsStorage=connection_string)

    def _simulated_queue_delay(self, seconds: float) -> float:
        self.sim.clock.advance(seconds)
        return 0.0

    def configure(self, **settings: str | None) -> None:
        apply(settings, self.monkeypatch)
        app_context.reset(timing=self.timing)

    def invite(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        called = self.worker.http("invite", "POST", "http://localhost:7071/api/invitations",
                                  headers={"Content-Type": "application/json", **(headers or {})},
                                  body=json.dumps(body).encode("utf-8"))
        called.raise_error()
        for text in called.outputs.get("group-memberships", []):
            self.queues.send("group-memberships", text)
        response = called.response
        assert response is not None
        return response.status_code, json.loads(response.get_body() or b"null")

    def revoke(self, request_id: str) -> tuple[int, dict[str, Any]]:
        called = self.worker.http("revoke_invitation", "DELETE", f"http://localhost:7071/api/invitations/{request_id}",
                                  route_params={"requestId": request_id})
        called.raise_error()
        response = called.response
        assert response is not None
        return response.status_code, json.loads(response.get_body() or b"null")

    def deliver(self, message: dict[str, Any], dequeue_count: int = 1) -> Any:
        """One delivery of a group-memberships message by the worker (the invocation: error, outputs)."""
        return self.worker.queue("add_membership", json.dumps(message), message_id="m-1", dequeue_count=dequeue_count)

    def settle(self) -> None:
        self.queues.run_until_empty("add_membership")

    def timer(self) -> None:
        self.worker.timer("expire_grants").raise_error()

    def days(self, count: float) -> None:
        self.sim.clock.advance(count * 86400)

    def members(self, group_id: str) -> set[str]:
        return set(self.sim.graph.members_of(group_id))

    def expiring(self) -> list[dict[str, Any]]:
        client = self.queues.queue("guest-expiring")
        return [json.loads(m.content) for m in client.peek_messages(max_messages=32)]

    def cli(self, *args: str) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli_main(list(args))
        return code, out.getvalue()


@pytest.fixture
def life(trust_sim: Simulator, monkeypatch: pytest.MonkeyPatch, azurite: str) -> Iterator[LifecycleApp]:
    app = LifecycleApp(trust_sim, monkeypatch, azurite)
    yield app
    app_context.reset()
