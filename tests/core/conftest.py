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

CREDENTIAL_SETTINGS = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                       "AZURE_CLIENT_CERTIFICATE_PASSWORD", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT",
                       "MSI_SECRET", "AZURE_AUTHORITY_HOST", "GRAPH_ENDPOINT", "INVITE_REDIRECT_URL",
                       "ALLOWED_GROUP_IDS", "ALLOWED_EMAIL_DOMAINS", "BLOCKED_EMAIL_DOMAINS", "LOG_PII",
                       "MSAL_FORCE_REGION", "AZURE_REGIONAL_AUTHORITY_NAME")


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
        """Environment for one credential mode ('secret', 'pem', 'pfx', 'system', 'user'), then a fresh runtime."""
        for name in CREDENTIAL_SETTINGS:
            self.monkeypatch.delenv(name, raising=False)
        sim = self.sim
        env = {"AZURE_AUTHORITY_HOST": sim.authority_host, "GRAPH_ENDPOINT": sim.graph_endpoint,
               "ALLOWED_GROUP_IDS": "*"}
        app = sim.identity.cert_app if mode in ("pem", "pfx") else sim.identity.default_app
        if mode in ("secret", "pem", "pfx"):
            env |= {"AZURE_TENANT_ID": sim.tenant_id, "AZURE_CLIENT_ID": app.client_id}
        if mode == "secret":
            env["AZURE_CLIENT_SECRET"] = app.secret
        elif mode == "pem":
            env["AZURE_CLIENT_CERTIFICATE_PATH"] = str(app.certificate_path)
        elif mode == "pfx":
            env |= {"AZURE_CLIENT_CERTIFICATE_PATH": str(app.certificate_pfx_path),
                    "AZURE_CLIENT_CERTIFICATE_PASSWORD": app.certificate_password}
        elif mode in ("system", "user"):
            env |= {"IDENTITY_ENDPOINT": sim.identity_endpoint, "IDENTITY_HEADER": sim.identity_header}
            if mode == "user":
                env["AZURE_CLIENT_ID"] = sim.identity.user_identity.client_id
        env |= settings
        for name, value in env.items():
            if value is None:
                self.monkeypatch.delenv(name, raising=False)
            else:
                self.monkeypatch.setenv(name, value)
        timing = runtime.Timing()
        if simulated_waits:  # the app's waits move the simulator's clock: minutes of replication lag in no time
            timing = runtime.Timing(sleep=self._simulated_sleep, clock=sim.clock.now)
        else:
            timing = runtime.Timing(sleep=self._real_sleep)
        runtime.reset(timing=timing)
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
