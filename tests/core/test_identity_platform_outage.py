"""The identity platform failing with a 5xx, in secret/certificate mode: msal raises MsalServiceError for a 5xx from
the OpenID configuration (authority.tenant_discovery) and from the token endpoint (oauth2cli). Each door must treat
it as the identity platform being unavailable (503 with Retry-After, a redelivery, a poison with the reason), never
as a bug (500) or a reasonless failure."""

from __future__ import annotations

import http.server
import threading

import pytest

from shared import runtime
from shared.membership import RetryLater
from simulator.graph.models import PARTNERS_GROUP_ID, PENDING_GUEST_ID

OPENID = r"openid-configuration$"
TOKEN = r"/oauth2/v2\.0/token$"
MEMBERSHIP = {"userId": PENDING_GUEST_ID, "groupId": PARTNERS_GROUP_ID}


@pytest.mark.parametrize("path", [OPENID, TOKEN], ids=["openid-configuration", "token"])
def test_an_identity_platform_5xx_answers_503_identity_unavailable(app, path):
    app.configure()
    app.sim.faults.add(service="login", path=path, status=503)

    answer = app.invite({"email": "alice@fabrikam.com"})

    assert answer.status == 503
    assert answer.body["type"].endswith(":identity-unavailable") and answer.headers["Retry-After"]
    assert app.graph_calls() == 0 and answer.messages == []


@pytest.mark.parametrize("path", [OPENID, TOKEN], ids=["openid-configuration", "token"])
def test_a_membership_during_an_identity_platform_5xx_is_redelivered(app, path):
    app.configure()
    app.sim.faults.add(service="login", path=path, status=503)

    with pytest.raises(RetryLater):
        app.deliver(MEMBERSHIP, dequeue_count=1)


@pytest.mark.parametrize("path", [OPENID, TOKEN], ids=["openid-configuration", "token"])
def test_a_membership_still_failing_on_the_last_delivery_is_poisoned_with_the_reason(app, path):
    app.configure()
    app.sim.faults.add(service="login", path=path, status=503)

    poison = app.deliver(MEMBERSHIP, dequeue_count=runtime.max_dequeue_count())

    assert poison is not None and poison["message"] == MEMBERSHIP
    assert poison["error"]["code"] in ("authorityUnavailable", "tokenRequestFailed")


class _HtmlBadGateway(http.server.BaseHTTPRequestHandler):
    """A managed identity endpoint behind a front end that answers 502 with an HTML page (not the JSON of
    the App Service identity protocol)."""

    def do_GET(self) -> None:
        body = b"<html><body>502 Bad Gateway</body></html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def html_identity_endpoint():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlBadGateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/msi/token"
    server.shutdown()
    server.server_close()


def test_a_managed_identity_endpoint_answering_html_is_identity_unavailable_not_a_500(app, html_identity_endpoint):
    app.configure("system", IDENTITY_ENDPOINT=html_identity_endpoint)

    answer = app.invite({"email": "alice@fabrikam.com"})

    assert answer.status == 503 and answer.body["type"].endswith(":identity-unavailable")
    assert app.graph_calls() == 0


def test_a_membership_while_the_identity_endpoint_answers_html_is_poisoned_with_the_reason_at_last(
        app, html_identity_endpoint):
    app.configure("system", IDENTITY_ENDPOINT=html_identity_endpoint)
    with pytest.raises(RetryLater):
        app.deliver(MEMBERSHIP, dequeue_count=1)

    poison = app.deliver(MEMBERSHIP, dequeue_count=runtime.max_dequeue_count())

    assert poison is not None and poison["error"]["code"] == "identityUnreadable"
