"""The HTTP front of the local host: every HTTP-triggered function on ``/api/<route>`` (host.json's default route
prefix), its methods from the binding, function keys checked as the host checks them (``?code=`` or
``x-functions-key``; ``authLevel: ANONYMOUS`` needs none), the request handed to the worker as the host sends it and
the worker's answer written back; queue outputs go to ``send`` (e.g. :meth:`devhost.queues.QueueRunner.send`).
"""

from __future__ import annotations

import secrets
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from devhost.worker import Invocation, LoadedFunction, Worker

ROUTE_PREFIX = "api"


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, worker: Worker, *, send: Callable[[str, str], None] | None = None,
                 ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1", port: int = 0,
                 key: str | None = None) -> None:
        super().__init__((host, port), _Handler)
        self.worker = worker
        self.functions = {n: f for n, f in worker.functions.items() if f.trigger()["type"] == "httpTrigger"}
        self.send = send or (lambda queue, message: None)
        self.key = key or secrets.token_urlsafe(24)  # the function key; never printed unless given
        self.invocations: list[Invocation] = []
        self.lock = threading.Lock()
        self.ssl_context = ssl_context
        scheme = "https" if ssl_context else "http"
        self.base_url = f"{scheme}://{'localhost' if ssl_context else host}:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, route: str, *, with_key: bool = True) -> str:
        return f"{self.base_url}/{ROUTE_PREFIX}/{route}" + (f"?code={self.key}" if with_key else "")

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

    def route(self, method: str, path: str) -> LoadedFunction | None:
        found = self.match(method, path)
        return found[0] if found else None

    def match(self, method: str, path: str) -> tuple[LoadedFunction, dict[str, str]] | None:
        """The function whose route template matches ``path`` and its route parameters: a ``{name}`` segment
        takes one whole path segment (URL-decoded), as the host's route templates do."""
        for function in self.functions.values():
            trigger = function.trigger()
            methods = [m.upper() for m in trigger.get("methods") or [method]]
            params = _match_template(f"{ROUTE_PREFIX}/{trigger['route']}", path)
            if params is not None and method in methods:
                return function, params
        return None

    def authorised(self, function: LoadedFunction, query: str, headers: Any) -> bool:
        if (function.trigger().get("authLevel") or "FUNCTION").upper() == "ANONYMOUS":
            return True
        presented = dict(parse_qsl(query, keep_blank_values=True)).get("code") or headers.get("x-functions-key")
        return bool(presented) and secrets.compare_digest(presented, self.key)


def _match_template(template: str, path: str) -> dict[str, str] | None:
    wanted, given = template.strip("/").split("/"), path.strip("/").split("/")
    if len(wanted) != len(given):
        return None
    params: dict[str, str] = {}
    for part, value in zip(wanted, given, strict=True):
        if part.startswith("{") and part.endswith("}"):
            if not value:
                return None
            params[part[1:-1].split(":")[0].rstrip("?")] = unquote(value)
        elif part.lower() != value.lower():
            return None
    return params


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        split = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        found = self.server.match(self.command, split.path)
        if found is None:
            return self._answer(404, b"", {})
        function, route_params = found
        if not self.server.authorised(function, split.query, self.headers):
            return self._answer(401, b"", {})
        scheme = "https" if self.server.ssl_context else "http"
        url = f"{scheme}://{self.headers.get('Host') or urlsplit(self.server.base_url).netloc}{self.path}"
        headers: dict[str, str] = {}
        for name, value in self.headers.items():  # a repeated header reaches the function joined with ","
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        invocation = self.server.worker.http(function.name, self.command, url, headers=headers, body=body,
                                             route_params=route_params)
        for queue, messages in invocation.outputs.items():
            for message in messages:
                self.server.send(queue, message)
        with self.server.lock:
            self.server.invocations.append(invocation)
        response = invocation.response
        assert response is not None
        self._answer(response.status_code, response.get_body() or b"", dict(response.headers))

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle
