"""A small stand-in for the Functions host, for tests that need the app reachable over real HTTP (webhooks
called by the simulator) and its queues run against real storage (Azurite).

- :func:`indexed_functions` indexes ``function_app.app`` once per process, as the host does.
- :class:`FunctionHost` serves every HTTP-triggered function on loopback (HTTP, or HTTPS with a given
  ``ssl.SSLContext``): route and methods from the function's bindings, function-level keys checked (``?code=``
  or ``x-functions-key``), a real ``func.HttpRequest`` in, the ``func.HttpResponse`` out; queue outputs go to
  the named queues through ``send`` (e.g. :class:`AzuriteQueues`).
- :class:`AzuriteQueues` runs queue-triggered functions on messages from Azurite with real dequeue counts: a
  function that raises leaves its message to be delivered again (visibility 0 instead of the host's timeout),
  and after ``max_dequeue_count`` tries the message goes to ``<queue>-poison`` as the host does.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
from azure.core.exceptions import ResourceExistsError
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueServiceClient

_index_lock = threading.Lock()
_indexes: dict[int, dict[str, Any]] = {}


@dataclass
class IndexedFunction:
    name: str
    user_function: Callable[..., Any]
    bindings: list[dict[str, Any]]

    def trigger(self) -> dict[str, Any]:
        return next(b for b in self.bindings if b["direction"] == "IN" and b["type"].endswith("Trigger"))

    def queue_outputs(self) -> dict[str, str]:
        return {b["name"]: b["queueName"] for b in self.bindings if b["direction"] == "OUT" and b["type"] == "queue"}


def indexed_functions(app: Any | None = None) -> dict[str, IndexedFunction]:
    """The app's functions by name. ``get_functions()`` records names on the app and refuses a second run, so
    the index is kept per app; the record is cleared first in case another harness indexed it already."""
    if app is None:
        from function_app import app as default_app

        app = default_app
    with _index_lock:
        if id(app) not in _indexes:
            app.functions_bindings = {}
            _indexes[id(app)] = {
                f.get_function_name(): IndexedFunction(f.get_function_name(), f.get_user_function(),
                                                       json.loads(f.get_function_json())["bindings"])
                for f in app.get_functions()}
        return _indexes[id(app)]


class Out:
    """What the host passes for an output binding."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@dataclass
class Invocation:
    function: str
    status: int | None = None
    error: BaseException | None = None
    outputs: dict[str, list[str]] = field(default_factory=dict)


class FunctionHost(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, functions: dict[str, IndexedFunction], *, send: Callable[[str, str], None] | None = None,
                 ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), _HostHandler)
        self.functions = {n: f for n, f in functions.items() if f.trigger()["type"] == "httpTrigger"}
        self.send = send or (lambda queue, message: None)
        self.key = secrets.token_urlsafe(24)  # the function key; never printed
        self.invocations: list[Invocation] = []
        self.lock = threading.Lock()
        self.ssl_context = ssl_context
        scheme = "https" if ssl_context else "http"
        self.base_url = f"{scheme}://{'localhost' if ssl_context else host}:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, route: str, *, with_key: bool = True) -> str:
        return f"{self.base_url}/api/{route}" + (f"?code={self.key}" if with_key else "")

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.ssl_context is None:
            return super().finish_request(request, client_address)
        try:
            wrapped = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return None
        try:
            return super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()

    def close(self) -> None:
        self.shutdown()
        self.server_close()

    def route(self, method: str, path: str) -> IndexedFunction | None:
        for function in self.functions.values():
            trigger = function.trigger()
            if path == f"/api/{trigger['route']}" and method in [m.upper() for m in trigger.get("methods") or [method]]:
                return function
        return None


class _HostHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FunctionHost

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        split = urlsplit(self.path)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        function = self.server.route(self.command, split.path)
        if function is None:
            return self._answer(404, b"", {})
        level = (function.trigger().get("authLevel") or "FUNCTION").upper()
        presented = params.pop("code", None) or self.headers.get("x-functions-key")
        if level != "ANONYMOUS" and not (presented and secrets.compare_digest(presented, self.server.key)):
            return self._answer(401, b"", {})
        request = func.HttpRequest(self.command, f"{self.server.base_url}{self.path}", headers=dict(self.headers),
                                   params=params, body=body)
        invocation = Invocation(function.name)
        outs = {name: Out() for name in function.queue_outputs()}
        try:
            response = function.user_function(request, **outs)
        except Exception as error:  # the host answers 500 when a function raises
            invocation.error = error
            response = func.HttpResponse(b"", status_code=500)
        invocation.status = response.status_code
        for name, queue in function.queue_outputs().items():
            invocation.outputs[queue] = _values(outs[name].value)
            for message in invocation.outputs[queue]:
                self.server.send(queue, message)
        with self.server.lock:
            self.server.invocations.append(invocation)
        headers = dict(response.headers)
        self._answer(response.status_code, response.get_body() or b"", headers)

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class AzuriteQueues:
    """Queue-triggered functions run on messages from a real queue service."""

    def __init__(self, connection_string: str, functions: dict[str, IndexedFunction], *,
                 max_dequeue_count: int = 5) -> None:
        self.service = QueueServiceClient.from_connection_string(connection_string)
        self.functions = {n: f for n, f in functions.items() if f.trigger()["type"] == "queueTrigger"}
        self.max_dequeue_count = max_dequeue_count
        self.invocations: list[Invocation] = []

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
        """Deliver each message now visible on the function's queue once; returns the invocations."""
        function = self.functions[function_name]
        client = self.queue(function.trigger()["queueName"])
        done = []
        for message in client.receive_messages(max_messages=32, visibility_timeout=60):
            done.append(self._invoke(function, client, message))
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

    def _invoke(self, function: IndexedFunction, client: Any, message: Any) -> Invocation:
        invocation = Invocation(function.name)
        outs = {name: Out() for name in function.queue_outputs()}
        trigger = QueueMessage(id=message.id, body=str(message.content).encode("utf-8"),
                               dequeue_count=message.dequeue_count, pop_receipt=message.pop_receipt)
        try:
            function.user_function(trigger, **outs)
        except Exception as error:
            invocation.error = error
        for name, queue in function.queue_outputs().items():
            invocation.outputs[queue] = _values(outs[name].value)
            for value in invocation.outputs[queue]:
                self.send(queue, value)
        if invocation.error is None:
            client.delete_message(message)
        elif message.dequeue_count >= self.max_dequeue_count:
            self.send(f"{function.trigger()['queueName']}-poison", str(message.content))
            client.delete_message(message)
        else:
            client.update_message(message, visibility_timeout=0)  # the host would wait visibilityTimeout
        return invocation
