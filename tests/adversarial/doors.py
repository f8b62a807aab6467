"""Every door of the app, called as the host calls it, with what the simulator saw of each call.

``doors.invite(raw)``, ``doors.membership(raw)``, ``doors.guest_invitation(raw)`` and ``doors.notify(raw)`` return
what the function answered or wrote, plus the Graph requests the call caused (``graph``). Queue deliveries use the
last dequeue count (host.json's maxDequeueCount), when the app must decide rather than ask for a redelivery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from azure.functions.queue import QueueMessage

from bench.host_model import Out, app_settings, simulated_timing
from shared import runtime
from simulator import Simulator
from simulator.graph.models import FALCON_GROUP_ID, PARTNERS_GROUP_ID
from simulator.server import RecordedRequest
from tests.function_host import indexed_functions

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
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.functions = {name: f.user_function for name, f in indexed_functions().items()}
        self.max_dequeue_count = runtime.max_dequeue_count()

    def configure(self, **settings: str | None) -> Doors:
        environ = app_settings(self.sim, ALLOWED_GROUP_IDS=",".join(ALLOWED_GROUPS),
                              SHAREPOINT_LIST_ID=SHAREPOINT_LIST_ID, SHAREPOINT_CLIENT_STATE=CLIENT_STATE)
        environ.update(settings)
        runtime.reset(environ={k: v for k, v in environ.items() if v is not None}, timing=simulated_timing(self.sim))
        return self

    def _since(self, mark: int) -> list[RecordedRequest]:
        return [r for r in self.sim.stats.requests[mark:] if r.service == "graph"]

    def invite(self, raw: bytes, content_type: str = "application/json") -> Called:
        mark = len(self.sim.stats.requests)
        request = func.HttpRequest("POST", "http://localhost:7071/api/invitations",
                                   headers={"Content-Type": content_type}, body=raw)
        memberships = Out()
        response = self.functions["invite"](request, memberships)
        return Called(response.status_code, dict(response.headers), _parsed(response.get_body()),
                      list(memberships.value or []), graph=self._since(mark))

    def membership(self, raw: bytes) -> Called:
        mark = len(self.sim.stats.requests)
        poison = Out()
        message = QueueMessage(id="adv-1", body=raw, dequeue_count=self.max_dequeue_count)
        self.functions["add_membership"](message, poison)
        return Called(poison=_parsed(poison.value), graph=self._since(mark))

    def guest_invitation(self, raw: bytes) -> Called:
        mark = len(self.sim.stats.requests)
        memberships, poison = Out(), Out()
        message = QueueMessage(id="adv-2", body=raw, dequeue_count=self.max_dequeue_count)
        self.functions["invite_from_queue"](message, memberships, poison)
        return Called(messages=list(memberships.value or []), poison=_parsed(poison.value), graph=self._since(mark))

    def notify(self, raw: bytes, params: dict[str, str] | None = None) -> Called:
        mark = len(self.sim.stats.requests)
        request = func.HttpRequest("POST", "http://localhost:7071/api/sharepoint/notifications",
                                   headers={"Content-Type": "application/json"}, params=params or {}, body=raw)
        notifications = Out()
        response = self.functions["sharepoint_notifications"](request, notifications)
        return Called(response.status_code, dict(response.headers), _parsed(response.get_body()),
                      list(notifications.value or []), graph=self._since(mark))


def _parsed(raw: Any) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw
