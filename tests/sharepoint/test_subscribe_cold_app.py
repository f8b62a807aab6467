"""``cli.py sharepoint subscribe`` meets a cold app (issue 13, item 14): SharePoint gives the validation handshake
5 s and Flex Consumption scales to zero. The command warms the notification endpoint first, and retries the
subscription once when the handshake still fails. A stand-in endpoint plays the cold app (the simulator's
handshake timeout is scaled down from 5 s to 0.5 s)."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

pytestmark = pytest.mark.azurite


class ColdEndpoint:
    """Echoes SharePoint's validation token; its first ``slow`` requests take ``delay`` s (a cold start), its first
    ``failing`` requests answer 503 (an instance still starting)."""

    def __init__(self, sim, *, slow: int = 0, delay: float = 0.0, failing: int = 0) -> None:
        self.requests: list[str] = []
        self.slow, self.delay, self.failing = slow, delay, failing
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                endpoint.requests.append(self.path)
                number = len(endpoint.requests)
                if number <= endpoint.slow:
                    time.sleep(endpoint.delay)
                token = parse_qs(urlsplit(self.path).query).get("validationtoken", [""])[0]
                status = 503 if number <= endpoint.failing else 200
                body = token.encode() if status == 200 else b"starting"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sim.workdir / "tls" / "server.pem", sim.workdir / "tls" / "server.key")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://localhost:{self.server.server_address[1]}/api/sharepoint/notifications?code=key"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cold(sp_app) -> Iterator:
    endpoints: list[ColdEndpoint] = []

    def make(**options) -> ColdEndpoint:
        endpoint = ColdEndpoint(sp_app.sim, **options)
        endpoints.append(endpoint)
        sp_app.provision()
        sp_app.configure(SHAREPOINT_NOTIFICATION_URL=endpoint.url)
        sp_app.sim.sharepoint.subscriptions.validation_timeout = 0.5
        return endpoint

    yield make
    for endpoint in endpoints:
        endpoint.close()


def test_a_cold_app_is_warmed_before_sharepoint_validates_it(sp_app, cold):
    endpoint = cold(slow=1, delay=1.5)  # the first request wakes the app and takes longer than the handshake allows
    code, output = sp_app.cli("sharepoint", "subscribe")
    assert code == 0, output
    assert "created" in output
    handshakes = sp_app.sim.sharepoint.subscriptions.handshakes
    assert [h.ok for h in handshakes] == [True]
    assert len(endpoint.requests) == 2  # the warm-up, then SharePoint's handshake


def test_a_failed_handshake_is_retried_once(sp_app, cold):
    endpoint = cold(failing=2)  # the warm-up and the first handshake meet an instance still starting
    code, output = sp_app.cli("sharepoint", "subscribe")
    assert code == 0, output
    assert [h.ok for h in sp_app.sim.sharepoint.subscriptions.handshakes] == [False, True]
    assert len(endpoint.requests) == 4  # warm-up, failed handshake, warm-up again, handshake


def test_a_handshake_that_keeps_failing_is_tried_twice_then_reported(sp_app, cold):
    cold(failing=100)
    code, _ = sp_app.cli("sharepoint", "subscribe")
    assert code != 0
    assert [h.ok for h in sp_app.sim.sharepoint.subscriptions.handshakes] == [False, False]
