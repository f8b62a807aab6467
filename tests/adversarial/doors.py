"""Every door of the app, called through the real Functions worker (devhost), with what the simulator saw of each call.

``doors.invite(raw)``, ``doors.membership(raw)``, ``doors.guest_invitation(raw)`` and ``doors.notify(raw)`` return
what the function answered or wrote, plus the Graph requests the call caused (``graph``). Queue deliveries use the
last dequeue count (host.json's maxDequeueCount), when the app must decide rather than ask for a redelivery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import devhost
from bench.host_model import app_settings, simulated_timing
from shared import runtime
from simulator import Simulator
from simulator.graph.models import FALCON_GROUP_ID, PARTNERS_GROUP_ID
from simulator.server import RecordedRequest

ALLOWED_GROUPS = (PARTNERS_GROUP_ID, FALCON_GROUP_ID)
SHAREPOINT_LIST_ID = "5d1c7e2a-9b3f-4e8d-a6c5-0f1e2d3c4b5a"
CLIENT_STATE = "adversarial-client-state-0123456789"


@dataclass
class Called:
    status: int | None = None  # HTTP doors
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # parsed JSON when it is JSON, else bytes
    messages: list[str] = field(default_factory=list)  # queue output
    poison: Any = None  # parsed poison message, if one was written
    graph: list[RecordedRequest] = field(default_factory=list)


class Doors:
    def __init__(self, sim: Simulator, storage: str) -> None:
        self.sim = sim
        self.storage = storage  # Azurite: the status records, and the queue a waiting message is put back on
        self.host = devhost.worker()
        self.max_dequeue_count = runtime.max_dequeue_count()

    def configure(self, **settings: str | None) -> Doors:
        environ = app_settings(self.sim, ALLOWED_GROUP_IDS=",".join(ALLOWED_GROUPS),
                              SHAREPOINT_LIST_ID=SHAREPOINT_LIST_ID, SHAREPOINT_CLIENT_STATE=CLIENT_STATE,
                              AzureWebJobsStorage=self.storage)
        environ.update(settings)
        runtime.reset(environ={k: v for k, v in environ.items() if v is not None}, timing=simulated_timing(self.sim))
        return self

    def _since(self, mark: int) -> list[RecordedRequest]:
        return [r for r in self.sim.stats.requests[mark:] if r.service == "graph"]

    def invite(self, raw: bytes, content_type: str = "application/json") -> Called:
        mark = len(self.sim.stats.requests)
        called = self.host.http("invite", "POST", "http://localhost:7071/api/invitations",
                                headers={"Content-Type": content_type}, body=raw)
        return self._http(called, "group-memberships", mark)

    def membership(self, raw: bytes) -> Called:
        mark = len(self.sim.stats.requests)
        called = self.host.queue("add_membership", _queue_body(raw), message_id="adv-1",
                                 dequeue_count=self.max_dequeue_count)
        called.raise_error()
        return Called(poison=_one(called.outputs.get("group-memberships-poison")), graph=self._since(mark))

    def guest_invitation(self, raw: bytes) -> Called:
        mark = len(self.sim.stats.requests)
        called = self.host.queue("invite_from_queue", _queue_body(raw), message_id="adv-2",
                                 dequeue_count=self.max_dequeue_count)
        called.raise_error()
        return Called(messages=called.outputs.get("group-memberships", []),
                      poison=_one(called.outputs.get("guest-invitations-poison")), graph=self._since(mark))

    def notify(self, raw: bytes, params: dict[str, str] | None = None) -> Called:
        mark = len(self.sim.stats.requests)
        query = f"?{urlencode(params)}" if params else ""
        called = self.host.http("sharepoint_notifications", "POST",
                                f"http://localhost:7071/api/sharepoint/notifications{query}",
                                headers={"Content-Type": "application/json"}, body=raw)
        return self._http(called, "sharepoint-notifications", mark)

    def _http(self, called: devhost.Invocation, queue: str, mark: int) -> Called:
        called.raise_error()
        response = called.response
        assert response is not None
        return Called(response.status_code, dict(response.headers), _parsed(response.get_body()),
                      called.outputs.get(queue, []), graph=self._since(mark))


def _queue_body(raw: bytes) -> str | bytes:
    """Text as the host sends a queue message; bytes that are not UTF-8 as a binary message (dataType binary)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _one(messages: list[str] | None) -> Any:
    assert len(messages or []) <= 1, messages
    return _parsed(messages[0]) if messages else None


def _parsed(raw: Any) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw
