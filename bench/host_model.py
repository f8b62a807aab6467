"""An in-process model of the Functions host for the benchmarks and the soak: the app loaded and invoked by the real
Functions Python worker (devhost), output bindings collected as the host collects them, and a queue that redelivers
failed messages the way the host does (dequeue count, visibility timeout on the simulated clock, poison after
host.json's maxDequeueCount).

Nothing here changes the product: settings reach ``shared.runtime`` through :func:`shared.runtime.reset`'s
``environ``, exactly as the host's app settings would.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.functions.queue import QueueMessage

from devhost import worker
from devhost.queues import QueueSettings
from shared import runtime
from simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent
HOST_JSON = ROOT / "host.json"


def app_settings(sim: Simulator, **overrides: str) -> dict[str, str]:
    """App settings for client-secret mode against the simulator (what local.settings.json would hold)."""
    from tests.tenant_settings import simulator_settings

    return {name: value for name, value in simulator_settings(sim, **overrides).items() if value is not None}


def simulated_timing(sim: Simulator) -> runtime.Timing:
    """The app's waits (Retry-After, backoff, replication lag) move the simulator's clock instead of real time."""
    return runtime.Timing(sleep=sim.clock.advance, clock=sim.clock.now, wall=sim.clock.now)


@dataclass
class HttpResult:
    status: int
    body: Any
    headers: dict[str, str]
    messages: list[str]


def invite(body: bytes, headers: dict[str, str] | None = None) -> HttpResult:
    """POST /api/invitations through the ``invite`` function, invoked by the real worker as the host invokes it."""
    called = worker().http("invite", "POST", "http://localhost:7071/api/invitations",
                           headers={"Content-Type": "application/json", **(headers or {})}, body=body)
    called.raise_error()
    response = called.response
    assert response is not None
    raw = response.get_body() or b""
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw
    return HttpResult(response.status_code, parsed, dict(response.headers),
                      called.outputs.get("group-memberships", []))


def queue_settings(path: Path = HOST_JSON) -> tuple[int, float]:
    """(maxDequeueCount, visibilityTimeout in seconds) from host.json's extensions.queues."""
    settings = QueueSettings.from_host_json(path)
    return settings.max_dequeue_count, settings.visibility_timeout


@dataclass(order=True)
class _Entry:
    visible_at: float
    order: int
    id: str = field(compare=False)
    body: str = field(compare=False)
    dequeue_count: int = field(default=0, compare=False)


@dataclass
class Delivery:
    message_id: str
    dequeue_count: int
    # "done" | "poisoned" (the function wrote poison) | "put-back" (a wait: put back with a delay) | "retry" (raised)
    # | "host-poisoned"
    outcome: str
    error: str | None = None


class QueueModel:
    """One queue as the host runs it, on simulated time: a message whose function raises becomes visible again
    after visibilityTimeout; once its dequeue count reaches maxDequeueCount the host moves it to ``poison_by_host``
    (the host logs only that it did: the app is expected to have written its own poison with a reason first)."""

    def __init__(self, clock: Any, max_dequeue_count: int, visibility_timeout: float) -> None:
        self.clock = clock
        self.max_dequeue_count = max_dequeue_count
        self.visibility_timeout = visibility_timeout
        self._heap: list[_Entry] = []
        self._order = itertools.count()
        self.poison_by_host: list[str] = []
        self.deliveries: list[Delivery] = []

    def put(self, body: str, delay: float = 0.0) -> None:
        """A message sent now, visible after ``delay`` simulated seconds (its visibility timeout)."""
        number = next(self._order)
        heapq.heappush(self._heap, _Entry(self.clock.now() + delay, number, f"msg-{number}", body))

    def __len__(self) -> int:
        return len(self._heap)

    def run(self, handler: Callable[[QueueMessage], str], until: float | None = None) -> None:
        """Deliver until the queue is empty (or, with ``until``, until no message is visible before that
        simulated time). ``handler`` returns "done" or "poisoned", or raises to ask for a redelivery; waiting for
        an invisible message moves the simulated clock forward."""
        while self._heap and (until is None or self._heap[0].visible_at <= until):
            entry = heapq.heappop(self._heap)
            wait = entry.visible_at - self.clock.now()
            if wait > 0:
                self.clock.advance(wait)
            entry.dequeue_count += 1
            message = QueueMessage(id=entry.id, body=entry.body.encode("utf-8"), dequeue_count=entry.dequeue_count)
            try:
                outcome = handler(message)
            except Exception as error:  # what the host sees as a failed invocation
                self._failed(entry, error)
                continue
            self.deliveries.append(Delivery(entry.id, entry.dequeue_count, outcome))

    def _failed(self, entry: _Entry, error: Exception) -> None:
        text = f"{type(error).__name__}: {error}"
        if entry.dequeue_count >= self.max_dequeue_count:
            self.poison_by_host.append(entry.body)
            self.deliveries.append(Delivery(entry.id, entry.dequeue_count, "host-poisoned", text))
            return
        self.deliveries.append(Delivery(entry.id, entry.dequeue_count, "retry", text))
        entry.visible_at = self.clock.now() + self.visibility_timeout
        heapq.heappush(self._heap, entry)


def forget_learned_delay(connection_string: str) -> None:
    """A fresh app: delete the first delay an earlier run's processes shared through the status table (shared.lag),
    so a run or test starts from the default as a new app would."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import TableClient

    from shared.lag import FIRST_DELAY_ROW
    from shared.status import LAG_PARTITION, TABLE

    with contextlib.suppress(ResourceNotFoundError):  # no table, or nothing shared yet
        TableClient.from_connection_string(connection_string, TABLE).delete_entity(LAG_PARTITION, FIRST_DELAY_ROW)


class PutBack:
    """Where the app's delayed re-enqueue lands in the model. The app sends a waiting message to the real queue
    service (Azurite) with the visibility timeout ``Timing.queue_delay`` returns: here 0, after recording the
    delay it wanted; :meth:`move` then takes the message off Azurite and puts it in the model with that delay on
    the simulated clock. One worker, at most one message put back per invocation: delays and messages pair up."""

    def __init__(self, connection_string: str, queue_name: str = "group-memberships") -> None:
        from azure.storage.queue import QueueClient

        self.queue = QueueClient.from_connection_string(connection_string, queue_name)
        with contextlib.suppress(Exception):  # exists already
            self.queue.create_queue()
        self.queue.clear_messages()
        self.delays: list[float] = []
        self.moved = 0
        self.missing = 0  # put back by the app (a delay was asked for) but never found on the queue

    def record(self, seconds: float) -> float:
        self.delays.append(seconds)
        return 0.0

    def move(self, model: QueueModel, timeout: float = 5.0) -> int:
        """Move every message the app put back since the last call (as many as delays it asked for), waiting up to
        ``timeout`` real seconds for the queue service to show them."""
        expected, moved = len(self.delays), 0
        deadline = time.monotonic() + timeout
        while moved < expected:
            for item in self.queue.receive_messages(max_messages=32, visibility_timeout=60):
                model.put(item.content, self.delays.pop(0) if self.delays else 0.0)
                self.queue.delete_message(item)
                moved += 1
            if moved < expected and time.monotonic() > deadline:
                self.missing += expected - moved
                self.delays.clear()
                break
            if moved < expected:
                time.sleep(0.05)
        self.moved += moved
        return moved


def membership_handler(poison_sink: list[str], put_back: PutBack | None = None,
                       model: QueueModel | None = None) -> Callable[[QueueMessage], str]:
    """The ``add_membership`` function as the queue model's handler; its poison output goes to ``poison_sink``; a
    message it puts back goes into ``model`` (through ``put_back``)."""

    def handle(message: QueueMessage) -> str:
        called = worker().queue("add_membership", message.get_body().decode("utf-8"), message_id=message.id,
                                dequeue_count=message.dequeue_count)
        called.raise_error()  # the queue model redelivers, as the host does for a failed invocation
        poison = called.outputs.get("group-memberships-poison", [])
        poison_sink.extend(poison)
        if put_back is not None and model is not None and put_back.move(model):
            return "put-back"
        return "poisoned" if poison else "done"

    return handle
