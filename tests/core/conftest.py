"""Call the function app through the real Functions Python worker (devhost), against the simulated tenant.

``app`` configures the environment from the simulator (credential mode chosen per test), resets the per-process
runtime, and offers ``invite(...)`` (an HTTP request as the host sends it) and ``deliver(...)`` (a queue message with
the host's trigger metadata). An exception the function raises is re-raised here, as the worker reported it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import devhost
from shared import runtime
from simulator import Simulator
from tests.tenant_settings import point_app_at


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    messages: list[dict[str, Any]] = field(default_factory=list)


class AppHarness:
    def __init__(self, sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sim = sim
        self.monkeypatch = monkeypatch
        self.host = devhost.worker()
        self.waits: list[float] = []

    def configure(self, mode: str = "secret", *, simulated_waits: bool = False, **settings: str) -> AppHarness:
        """Environment for one credential mode ('secret', 'pem', 'pfx', 'system', 'user'), then a fresh context."""
        if simulated_waits:  # the app's waits move the simulator's clock: minutes of replication lag in no time
            timing = runtime.Timing(sleep=self._simulated_sleep, clock=self.sim.clock.now)
        else:
            timing = runtime.Timing(sleep=self._real_sleep)
        point_app_at(self.sim, self.monkeypatch, mode, timing=timing, **settings)
        return self

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

    def graph_calls(self) -> int:
        return self.sim.stats.count(service="graph")

    def token_fetches(self) -> int:
        return self.sim.stats.count(service="login", route="token") + self.sim.stats.count(service="msi")


@pytest.fixture
def app(trust_sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppHarness]:
    harness = AppHarness(trust_sim, monkeypatch).configure()
    yield harness
    runtime.reset()
