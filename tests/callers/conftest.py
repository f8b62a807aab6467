"""The callers' doors driven through the real Functions worker, against the simulated tenant (the core's harness)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
import requests

import devhost
from devhost.http_server import HttpServer
from devhost.queues import QueueRunner
from shared import runtime
from simulator import Simulator
from tests.core.conftest import AppHarness


class CallersHarness(AppHarness):
    def deliver_invitation(self, message: Any, dequeue_count: int = 1, *, encoding: str = "plain",
                           message_id: str = "0b8c2b1e-5a8e-4a5e-9a53-6f0f1c3b2a11") -> tuple[list[dict], dict | None]:
        """One delivery of a guest-invitations message: (membership messages written, poison message or None).
        RetryLater propagates, as it would to the host."""
        text = message if isinstance(message, str) else json.dumps(message)
        if encoding == "base64":
            text = base64.b64encode(text.encode("utf-8")).decode("ascii")
        called = self.host.queue("invite_from_queue", text, message_id=message_id, dequeue_count=dequeue_count)
        called.raise_error()
        poison = called.outputs.get("guest-invitations-poison", [])
        assert len(poison) <= 1
        return ([json.loads(item) for item in called.outputs.get("group-memberships", [])],
                json.loads(poison[0]) if poison else None)

    def get_openapi(self, host: str | None) -> func.HttpResponse:
        headers = {"host": host} if host is not None else {}
        called = self.host.http("openapi", "GET", "https://x/api/openapi.json", headers=headers)
        called.raise_error()
        assert called.response is not None
        return called.response


@pytest.fixture
def app(trust_sim: Simulator, monkeypatch: pytest.MonkeyPatch, azurite: str) -> Iterator[CallersHarness]:
    harness = CallersHarness(trust_sim, monkeypatch, azurite).configure()
    yield harness
    runtime.reset()


QUEUES = ("group-memberships", "group-memberships-poison")


class Host:
    """The app behind devhost: HTTP front and queue runner sharing Azurite."""

    def __init__(self, azurite: str) -> None:
        self.runner = QueueRunner(azurite, devhost.worker())
        self.runner.clear(*QUEUES)
        self.front = HttpServer(devhost.worker(), send=self.runner.send)

    def invite(self, body: dict, *, respond_async: bool = False, request_id: str | None = None) -> requests.Response:
        headers = {"x-functions-key": self.front.key}  # typed into the action: it does NOT follow to Location
        if respond_async:
            headers["Prefer"] = "respond-async"
        if request_id:
            headers["x-ms-client-request-id"] = request_id
        return requests.post(self.front.url("invitations", with_key=False), json=body, headers=headers, timeout=30)

    def get_status(self, request_id: str, *, key: bool = True) -> requests.Response:
        return requests.get(self.front.url(f"invitations/{request_id}", with_key=key), timeout=30)


@pytest.fixture
def host(app, azurite: str) -> Iterator[Host]:
    app.configure(simulated_waits=True)  # put-back messages wait in simulated time (visible at once)
    started = Host(azurite)
    yield started
    started.front.close()
