"""Call the function app's handlers the way the host does, against the simulated tenant.

``app`` configures the environment from the simulator (credential mode chosen per test), resets the per-process
runtime, and offers ``invite(...)`` (a real func.HttpRequest) and ``deliver(...)`` (a real QueueMessage).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage

from shared import runtime
from simulator import Simulator
from tests.function_host import indexed_functions
from tests.tenant_settings import point_app_at


class Out:
    """What the host passes for an output binding: collects what the function sets."""

    def __init__(self) -> None:
        self.value: Any = None
        self.calls = 0

    def set(self, value: Any) -> None:
        self.value = value
        self.calls += 1

    def get(self) -> Any:
        return self.value


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    messages: list[dict[str, Any]] = field(default_factory=list)


def functions() -> dict[str, Any]:
    """The user functions as the host indexes them from ``app.get_functions()`` (once per process: the shared
    index in tests/function_host.py, since a FunctionApp refuses a second indexing)."""
    return {name: indexed.user_function for name, indexed in indexed_functions().items()}


class AppHarness:
    def __init__(self, sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sim = sim
        self.monkeypatch = monkeypatch
        self.functions = functions()
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
        request = func.HttpRequest("POST", "http://localhost:7071/api/invitations",
                                   headers={"Content-Type": "application/json", **(headers or {})}, body=data)
        memberships = Out()
        response = self.functions["invite"](request, memberships)
        messages = [json.loads(m) for m in (memberships.value or [])]
        assert all(isinstance(m, str) for m in memberships.value or [])
        return Answer(response.status_code, json.loads(response.get_body() or b"null"), dict(response.headers),
                      messages)

    def deliver(self, message: Any, dequeue_count: int = 1, *, encoding: str = "plain") -> dict[str, Any] | None:
        """One delivery of a group-memberships message; the poison message written, if any. RetryLater propagates."""
        text = message if isinstance(message, str) else json.dumps(message)
        if encoding == "base64":
            text = base64.b64encode(text.encode("utf-8")).decode("ascii")
        msg = QueueMessage(id="m-1", body=text.encode("utf-8"), dequeue_count=dequeue_count)
        poison = Out()
        self.functions["add_membership"](msg, poison)
        return json.loads(poison.value) if poison.value is not None else None

    def graph_calls(self) -> int:
        return self.sim.stats.count(service="graph")

    def token_fetches(self) -> int:
        return self.sim.stats.count(service="login", route="token") + self.sim.stats.count(service="msi")


@pytest.fixture
def app(trust_sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppHarness]:
    harness = AppHarness(trust_sim, monkeypatch).configure()
    yield harness
    runtime.reset()
