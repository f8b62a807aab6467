"""Queue-triggered functions run on messages from a real queue service (Azurite), with host.json's queue settings:
``messageEncoding: none`` (the message text is the body), up to ``batchSize`` messages per poll, a failed message
made visible again after ``visibilityTimeout``, and after ``maxDequeueCount`` failed tries moved, as it was, to
``<queue>-poison``. Output bindings of a successful invocation are written to their queues.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueServiceClient

from devhost.worker import ROOT, Invocation, LoadedFunction, Worker


def timespan_seconds(value: str) -> float:
    """host.json's ``hh:mm:ss`` (optionally ``d.hh:mm:ss``) as seconds."""
    match = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)", value.strip())
    if not match:
        raise ValueError(f"not a timespan: {value!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class QueueSettings:
    """host.json ``extensions.queues`` (the host's defaults where a value is absent)."""

    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    batch_size: int = 16
    max_polling_interval: float = 60.0
    message_encoding: str = "base64"

    @classmethod
    def from_host_json(cls, path: Path = ROOT / "host.json") -> QueueSettings:
        queues = json.loads(path.read_text(encoding="utf-8")).get("extensions", {}).get("queues", {})
        default = cls()
        return cls(max_dequeue_count=int(queues.get("maxDequeueCount", default.max_dequeue_count)),
                   visibility_timeout=timespan_seconds(queues.get("visibilityTimeout", "00:00:00")),
                   batch_size=int(queues.get("batchSize", default.batch_size)),
                   max_polling_interval=timespan_seconds(queues.get("maxPollingInterval", "00:01:00")),
                   message_encoding=str(queues.get("messageEncoding", default.message_encoding)))


class QueueRunner:
    """Runs the worker's queue-triggered functions on one storage account's queues."""

    def __init__(self, connection_string: str, worker: Worker, *, settings: QueueSettings | None = None) -> None:
        self.settings = settings or QueueSettings.from_host_json()
        if self.settings.message_encoding != "none":
            raise ValueError("this host reads and writes queue messages as text: host.json messageEncoding 'none'")
        self.service = QueueServiceClient.from_connection_string(connection_string)
        self.worker = worker
        self.functions = {n: f for n, f in worker.functions.items() if f.trigger()["type"] == "queueTrigger"}
        self.invocations: list[Invocation] = []
        self.poisoned_by_host: list[tuple[str, str]] = []  # (queue, message) moved to <queue>-poison by the host
        self._lock = threading.Lock()

    @property
    def max_dequeue_count(self) -> int:
        return self.settings.max_dequeue_count

    def queue(self, name: str) -> Any:
        client = self.service.get_queue_client(name)
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        return client

    def send(self, queue: str, message: str) -> None:
        self.queue(queue).send_message(message)

    def peek(self, queue: str) -> list[str]:
        return [m.content for m in self.queue(queue).peek_messages(max_messages=32)]

    def clear(self, *queues: str) -> None:
        for name in queues:
            self.queue(name).clear_messages()

    def run_once(self, function_name: str) -> list[Invocation]:
        """Deliver each message now visible on the function's queue (one batch) once; returns the invocations."""
        function = self.functions[function_name]
        client = self.queue(function.trigger()["queueName"])
        done = []
        for message in client.receive_messages(max_messages=self.settings.batch_size, visibility_timeout=60):
            invocation = self._deliver(function, client, message)
            if invocation is not None:
                done.append(invocation)
        with self._lock:
            self.invocations += done
        return done

    def run_until_empty(self, function_name: str, rounds: int = 20) -> list[Invocation]:
        done: list[Invocation] = []
        for _ in range(rounds):
            batch = self.run_once(function_name)
            if not batch:
                return done
            done += batch
        return done

    def _deliver(self, function: LoadedFunction, client: Any, message: Any) -> Invocation | None:
        queue = function.trigger()["queueName"]
        if message.dequeue_count > self.settings.max_dequeue_count:  # already over the limit: the host poisons it
            self._poison(queue, client, message)
            return None
        invocation = self.worker.queue(
            function.name, str(message.content), message_id=message.id, dequeue_count=message.dequeue_count,
            insertion_time=message.inserted_on, expiration_time=message.expires_on,
            next_visible_time=message.next_visible_on, pop_receipt=message.pop_receipt)
        for output_queue, messages in invocation.outputs.items():
            for text in messages:
                self.send(output_queue, text)
        if invocation.error_message is None:
            client.delete_message(message)
        elif message.dequeue_count >= self.settings.max_dequeue_count:
            self._poison(queue, client, message)
        else:
            client.update_message(message, visibility_timeout=int(self.settings.visibility_timeout))
        return invocation

    def _poison(self, queue: str, client: Any, message: Any) -> None:
        self.send(f"{queue}-poison", str(message.content))
        client.delete_message(message)
        with self._lock:
            self.poisoned_by_host.append((queue, str(message.content)))
