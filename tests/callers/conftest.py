"""The callers' doors driven the way the host drives them, against the simulated tenant (the core's harness)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage

from shared import runtime
from simulator import Simulator
from tests.core.conftest import AppHarness, Out


class CallersHarness(AppHarness):
    def deliver_invitation(self, message: Any, dequeue_count: int = 1, *, encoding: str = "plain",
                           message_id: str = "0b8c2b1e-5a8e-4a5e-9a53-6f0f1c3b2a11") -> tuple[list[dict], dict | None]:
        """One delivery of a guest-invitations message: (membership messages written, poison message or None).
        RetryLater propagates, as it would to the host."""
        text = message if isinstance(message, str) else json.dumps(message)
        if encoding == "base64":
            text = base64.b64encode(text.encode("utf-8")).decode("ascii")
        msg = QueueMessage(id=message_id, body=text.encode("utf-8"), dequeue_count=dequeue_count)
        memberships, poison = Out(), Out()
        self.functions["invite_from_queue"](msg, memberships, poison)
        assert memberships.calls <= 1 and poison.calls <= 1
        assert all(isinstance(item, str) for item in memberships.value or [])  # func.Out[list[str]] takes str only
        return ([json.loads(item) for item in memberships.value or []],
                json.loads(poison.value) if poison.value is not None else None)

    def get_openapi(self, host: str | None) -> func.HttpResponse:
        headers = {"host": host} if host is not None else {}
        request = func.HttpRequest("GET", "https://x/api/openapi.json", headers=headers, body=b"")
        return self.functions["openapi"](request)


@pytest.fixture
def app(trust_sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[CallersHarness]:
    harness = CallersHarness(trust_sim, monkeypatch).configure()
    yield harness
    runtime.reset()
