"""The HTTP(S) layer: one loopback listener per service, a routing table each, fault injection and counters.

Handlers see a :class:`~simulator.wire.Request` and return a :class:`~simulator.wire.Response` or raise a
:class:`~simulator.errors.ServiceError`; everything about sockets, TLS, keep-alive and faults lives here.
"""

from __future__ import annotations

import collections
import random
import re
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from .errors import GraphError, ServiceError
from .wire import Headers, Request, Response

Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # a regex matched against the whole decoded path; named groups become path_params
    handler: Handler
    name: str = ""

    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.pattern + r"\Z")


@dataclass
class Fault:
    """Something to do to matching requests instead of (or before) answering them normally."""

    service: str | None = None  # "login", "msi", "graph", "sharepoint"; None = any
    method: str | None = None
    path: str | None = None  # regex searched in the decoded path
    status: int | None = None  # 429, 503, 504…: answer this instead of dispatching
    retry_after: int | None = None  # with status: a Retry-After header (seconds)
    latency: float = 0.0  # real seconds to wait before answering
    drop: bool = False  # close the connection without an answer
    drop_after: bool = False  # handle the request (its effects happen), then close without an answer
    body: bytes | None = None  # with status: answer this raw body (text/html), as a misbehaving proxy might
    content_type: str = "text/html"  # of ``body``: e.g. an empty JSON-labelled 500, as App Service's MI endpoint sent
    probability: float = 1.0
    times: int | None = None  # affect at most this many requests; None = no limit
    hits: int = 0

    def matches(self, service: str, method: str, path: str) -> bool:
        return (
            (self.service is None or self.service == service)
            and (self.method is None or self.method.upper() == method)
            and (self.path is None or re.search(self.path, path) is not None)
            and (self.times is None or self.hits < self.times)
        )


class Faults:
    def __init__(self, seed: int | None = None) -> None:
        self._rules: list[Fault] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def add(self, **kwargs) -> Fault:
        fault = Fault(**kwargs)
        with self._lock:
            self._rules.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pick(self, service: str, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._rules:
                if fault.matches(service, method, path) and self._random.random() < fault.probability:
                    fault.hits += 1
                    return fault
        return None


@dataclass
class RecordedRequest:
    service: str
    method: str
    path: str
    route: str
    status: int  # 0 when the connection was dropped
    at: float = field(default_factory=time.time)
    query: str = ""  # the raw (percent-encoded) query string, e.g. to check which $filter reached Graph


class Stats:
    """Counts connections and requests per service, and keeps every request for tests to inspect."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.connections: collections.Counter[str] = collections.Counter()
        self.requests: list[RecordedRequest] = []

    def connected(self, service: str) -> None:
        with self._lock:
            self.connections[service] += 1

    def record(self, entry: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def count(self, service: str | None = None, route: str | None = None, method: str | None = None,
              path: str | None = None) -> int:
        with self._lock:
            return sum(
                1 for r in self.requests
                if (service is None or r.service == service) and (route is None or r.route == route)
                and (method is None or r.method == method)
                and (path is None or re.search(path, r.path) is not None)
            )

    def reset(self) -> None:
        with self._lock:
            self.connections.clear()
            self.requests.clear()


class Service:
    """One simulated service: its name, scheme, routes, and how it stamps request ids on answers."""

    def __init__(self, name: str, routes: list[Route], *, tls: bool = True,
                 request_id_headers: tuple[str, ...] = ("request-id",),
                 not_found: Callable[[Request], ServiceError] | None = None) -> None:
        self.name = name
        self.tls = tls
        self.request_id_headers = request_id_headers
        self._routes = [(route, route.compiled()) for route in routes]
        self._not_found = not_found or (
            lambda request: GraphError(400, "BadRequest", f"Resource not found for the segment '{request.path}'.")
        )

    def add_routes(self, routes: list[Route]) -> None:
        self._routes.extend((route, route.compiled()) for route in routes)

    def resolve(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """The route for a request, its path parameters, and whether the path exists for another method."""
        path_matched = False
        for route, regex in self._routes:
            match = regex.match(path)
            if match:
                if route.method == method:
                    return route, {k: unquote(v) for k, v in match.groupdict().items()}, True
                path_matched = True
        return None, {}, path_matched


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GuestOnboardingSimulator/1.0"
    server: Listener

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK stall answers ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.stats.connected(self.server.service.name)

    def log_message(self, format: str, *args) -> None:  # quiet: tests read Stats, not stderr
        pass

    def _handle(self) -> None:
        service = self.server.service
        split = urlsplit(self.path)
        path = unquote(split.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command, path=path, raw_path=self.path, query=Request.parse_query(split.query),
            headers=Headers(list(self.headers.items())), body=body, service=service.name,
            base_url=self.server.base_url, client_address=self.client_address,
        )
        request_id = str(uuid.uuid4())
        route, params, path_matched = service.resolve(self.command, path)
        route_name = route.name if route else "(unrouted)"
        fault = self.server.faults.pick(service.name, self.command, path)
        if fault and fault.latency:
            time.sleep(fault.latency)
        if fault and fault.drop:
            self.server.stats.record(RecordedRequest(service.name, self.command, path, route_name, 0,
                                                     query=split.query))
            self.close_connection = True
            return
        try:
            if fault and fault.status and fault.body is not None:
                response = Response.text(fault.status, fault.body.decode("utf-8", "replace"), fault.content_type)
            elif fault and fault.status:
                response = self.server.fault_response(request, fault)
            elif route is None:
                if path_matched:
                    raise GraphError(405, "Request_BadRequest",
                                     "Specified HTTP method is not allowed for the request target.")
                raise service._not_found(request)
            else:
                request.path_params = params
                response = route.handler(request)
        except ServiceError as error:
            response = error.to_response(request, request_id)
        for name in service.request_id_headers:
            response.headers.setdefault(name, request_id)
        if "client-request-id" in request.headers:
            response.headers.setdefault("client-request-id", request.headers["client-request-id"])
        if fault and fault.drop_after:  # applied, but the answer is lost (a timeout or reset after the work)
            self.server.stats.record(RecordedRequest(service.name, self.command, path, route_name, 0,
                                                     query=split.query))
            self.close_connection = True
            return
        self.server.stats.record(RecordedRequest(service.name, self.command, path, route_name, response.status,
                                                 query=split.query))
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _handle


class Listener(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, service: Service, host: str, port: int, *, stats: Stats, faults: Faults,
                 tls_context: ssl.SSLContext | None,
                 fault_response: Callable[[Request, Fault], Response]) -> None:
        self.service = service
        self.stats = stats
        self.faults = faults
        self.tls_context = tls_context if service.tls else None
        self.fault_response = fault_response
        super().__init__((host, port), _RequestHandler)
        scheme = "https" if self.tls_context else "http"
        shown_host = "localhost" if host in ("127.0.0.1", "localhost") else host
        self.base_url = f"{scheme}://{shown_host}:{self.server_address[1]}"
        self._thread: threading.Thread | None = None

    def finish_request(self, request, client_address) -> None:
        # The TLS handshake runs in the connection's own thread, so one slow client cannot stall accept().
        if self.tls_context is None:
            super().finish_request(request, client_address)
            return
        try:
            tls_socket = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls_socket, client_address)
        finally:
            tls_socket.close()

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (its read timeout) before a slow answer was written is normal under faults.
        if isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            return
        super().handle_error(request, client_address)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name=f"sim-{self.service.name}",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join(timeout=5)
