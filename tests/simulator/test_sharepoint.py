"""The simulator's SharePoint: Graph sites/lists/items/delta and SharePoint REST list webhooks, over real HTTPS,
with tokens from the simulated managed identity endpoint and a real loopback HTTP receiver for the webhooks."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from simulator import Simulator

GRAPH_WRITE = ["Sites.ReadWrite.All", "Sites.Manage.All"]


# ---- a webhook receiver: what a subscriber's endpoint does, over real loopback HTTP -----------------------------
class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.validations: list[dict[str, list[str]]] = []
        self.notifications: list[dict] = []
        self.answers: list[int] = []  # statuses to answer notifications with, first to last; then 200
        self.echo = True  # False: answer the handshake without the token
        self.delay = 0.0  # seconds to wait before answering the handshake
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def handle_error(self, request, client_address) -> None:
        pass  # a caller that gave up (the handshake timeout test) closes the socket first

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/sharepoint/notifications?code=function-key"


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, format: str, *args) -> None:
        pass

    def do_POST(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "validationtoken" in query:
            with self.server.lock:
                self.server.validations.append(query)
            time.sleep(self.server.delay)
            text = query["validationtoken"][0] if self.server.echo else "nope"
            return self._answer(200, text.encode(), "text/plain")
        with self.server.lock:
            self.server.notifications.append(json.loads(body))
            status = self.server.answers.pop(0) if self.server.answers else 200
        return self._answer(status, b"", "text/plain")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.shutdown()
    server.server_close()


# ---- clients ----------------------------------------------------------------------------------------------------
def session_for(sim: Simulator, roles: list[str], resource: str) -> tuple[requests.Session, str]:
    """A session carrying a managed identity's token for ``resource`` (App Service's protocol), and its client id."""
    identity = sim.identity.add_managed_identity(user_assigned=True, roles=roles)
    answer = requests.get(sim.identity_endpoint, headers={"X-IDENTITY-HEADER": sim.identity_header},
                          params={"resource": resource, "api-version": "2019-08-01", "client_id": identity.client_id},
                          timeout=10)
    answer.raise_for_status()
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + answer.json()["access_token"]
    return session, identity.client_id


@pytest.fixture
def graph(trust_sim: Simulator) -> requests.Session:
    return session_for(trust_sim, GRAPH_WRITE, trust_sim.graph_endpoint)[0]


@pytest.fixture
def rest(trust_sim: Simulator) -> requests.Session:
    return session_for(trust_sim, ["Sites.ReadWrite.All"], trust_sim.url("sharepoint"))[0]


def site_url(sim: Simulator) -> str:
    return f"{sim.graph_endpoint}/v1.0/sites/{sim.sharepoint.site_id(sim.sharepoint.sites['/sites/partners'])}"


@pytest.fixture
def guest_list(trust_sim: Simulator, graph: requests.Session) -> str:
    answer = graph.post(f"{site_url(trust_sim)}/lists", json={
        "displayName": "Guest requests", "list": {"template": "genericList"},
        "columns": [{"name": "Email", "text": {}, "required": True},
                    {"name": "Status", "choice": {"choices": ["Pending", "Invited", "Added", "Failed"]},
                     "defaultValue": {"value": "Pending"}}]})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def subscribe(sim: Simulator, rest: requests.Session, list_id: str, url: str, **extra) -> requests.Response:
    body = {"resource": f"{sim.url('sharepoint')}/sites/partners/_api/web/lists('{list_id}')",
            "notificationUrl": url, "clientState": "s3cret",
            "expirationDateTime": (dt.datetime.now(dt.UTC) + dt.timedelta(days=90)).isoformat(), **extra}
    return rest.post(f"{sim.url('sharepoint')}/sites/partners/_api/web/lists('{list_id}')/subscriptions",
                     json=body, headers={"Accept": "application/json"})


# ---- sites --------------------------------------------------------------------------------------------------------
def test_site_is_found_by_hostname_and_path_and_by_its_composite_id(trust_sim, graph):
    hostname = urlsplit(trust_sim.url("sharepoint")).netloc
    by_path = graph.get(f"{trust_sim.graph_endpoint}/v1.0/sites/{hostname}:/sites/partners")
    assert by_path.status_code == 200
    site = by_path.json()
    assert site["id"].count(",") == 2 and site["id"].startswith(hostname + ",")
    assert site["webUrl"] == f"{trust_sim.url('sharepoint')}/sites/partners"
    assert graph.get(f"{trust_sim.graph_endpoint}/v1.0/sites/{site['id']}").json()["displayName"] == "Partners"
    missing = graph.get(f"{trust_sim.graph_endpoint}/v1.0/sites/{hostname}:/sites/nowhere")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "itemNotFound"


def test_site_calls_without_a_token_or_a_sites_permission_are_refused_with_graphs_errors(trust_sim):
    anonymous = requests.get(site_url(trust_sim), timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "InvalidAuthenticationToken"
    users_only, _ = session_for(trust_sim, ["User.Read.All"], trust_sim.graph_endpoint)
    denied = users_only.get(site_url(trust_sim))
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "accessDenied"


def test_sites_selected_works_only_after_a_site_write_grant_made_with_full_control(trust_sim, guest_list):
    selected, client_id = session_for(trust_sim, ["Sites.Selected"], trust_sim.graph_endpoint)
    items = f"{site_url(trust_sim)}/lists/{guest_list}/items"
    assert selected.post(items, json={"fields": {"Email": "a@fabrikam.com"}}).status_code == 403
    grant = {"roles": ["write"], "grantedToIdentities": [{"application": {"id": client_id, "displayName": "app"}}]}
    assert selected.post(f"{site_url(trust_sim)}/permissions", json=grant).status_code == 403
    admin, _ = session_for(trust_sim, ["Sites.FullControl.All"], trust_sim.graph_endpoint)
    granted = admin.post(f"{site_url(trust_sim)}/permissions", json=grant)
    assert granted.status_code == 201 and granted.json()["roles"] == ["write"]
    assert selected.post(items, json={"fields": {"Email": "a@fabrikam.com"}}).status_code == 201


# ---- lists and items --------------------------------------------------------------------------------------------
def test_list_is_created_with_its_columns_once_and_found_by_title(trust_sim, graph, guest_list):
    lists = f"{site_url(trust_sim)}/lists"
    again = graph.post(lists, json={"displayName": "Guest requests", "columns": []})
    assert again.status_code == 409 and again.json()["error"]["code"] == "nameAlreadyExists"
    by_title = graph.get(f"{lists}/Guest requests", params={"$expand": "columns"})
    assert by_title.json()["id"] == guest_list
    assert [c["name"] for c in by_title.json()["columns"]] == ["Email", "Status"]
    added = graph.post(f"{lists}/{guest_list}/columns", json={"name": "Error", "text": {"allowMultipleLines": True}})
    assert added.status_code == 201
    assert [c["name"] for c in graph.get(f"{lists}/{guest_list}/columns").json()["value"]][-1] == "Error"


def test_item_fields_patch_needs_the_current_etag_and_changes_it(trust_sim, graph, guest_list):
    items = f"{site_url(trust_sim)}/lists/{guest_list}/items"
    created = graph.post(items, json={"fields": {"Email": "a@fabrikam.com"}}).json()
    assert created["fields"]["Status"] == "Pending"  # the column's default
    first_etag = created["eTag"]
    updated = graph.patch(f"{items}/{created['id']}/fields", json={"Status": "Invited"},
                          headers={"If-Match": first_etag})
    assert updated.status_code == 200 and updated.json()["Status"] == "Invited"
    stale = graph.patch(f"{items}/{created['id']}/fields", json={"Status": "Failed"}, headers={"If-Match": first_etag})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "resourceModified"
    read = graph.get(f"{items}/{created['id']}", params={"$expand": "fields"}).json()
    assert read["fields"]["Status"] == "Invited" and read["eTag"] != first_etag
    unknown = graph.patch(f"{items}/{created['id']}/fields", json={"Colour": "red"})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "invalidRequest"


# ---- delta --------------------------------------------------------------------------------------------------------
def _all_pages(graph: requests.Session, url: str) -> tuple[list[dict], str, int]:
    values, pages = [], 0
    while True:
        page = graph.get(url)
        assert page.status_code == 200, page.text
        pages += 1
        values += page.json()["value"]
        if "@odata.deltaLink" in page.json():
            return values, page.json()["@odata.deltaLink"], pages
        url = page.json()["@odata.nextLink"]


def test_delta_pages_then_reports_changes_and_deletions_since_the_delta_link(trust_sim, graph, guest_list):
    items = f"{site_url(trust_sim)}/lists/{guest_list}/items"
    ids = [graph.post(items, json={"fields": {"Email": f"u{n}@fabrikam.com"}}).json()["id"] for n in range(5)]
    trust_sim.sharepoint.delta_page_size = 2
    values, delta_link, pages = _all_pages(graph, f"{items}/delta?$expand=fields")
    assert pages == 3 and [v["id"] for v in values] == ids
    assert values[0]["fields"]["Email"] == "u0@fabrikam.com"
    graph.patch(f"{items}/{ids[1]}/fields", json={"Status": "Invited"})
    assert graph.delete(f"{items}/{ids[2]}").status_code == 204
    changes, _, _ = _all_pages(graph, delta_link)
    assert [c["id"] for c in changes] == [ids[1], ids[2]]
    assert changes[0]["fields"]["Status"] == "Invited"
    assert changes[1]["deleted"] == {"state": "deleted"}


def test_delta_token_latest_starts_from_now(trust_sim, graph, guest_list):
    items = f"{site_url(trust_sim)}/lists/{guest_list}/items"
    graph.post(items, json={"fields": {"Email": "old@fabrikam.com"}})
    latest = graph.get(f"{items}/delta", params={"token": "latest"}).json()
    assert latest["value"] == [] and "@odata.deltaLink" in latest
    new = graph.post(items, json={"fields": {"Email": "new@fabrikam.com"}}).json()["id"]
    assert [v["id"] for v in _all_pages(graph, latest["@odata.deltaLink"])[0]] == [new]


def test_expired_delta_token_answers_410_with_a_location_that_resyncs(trust_sim, graph, guest_list):
    items = f"{site_url(trust_sim)}/lists/{guest_list}/items"
    graph.post(items, json={"fields": {"Email": "a@fabrikam.com"}})
    _, delta_link, _ = _all_pages(graph, f"{items}/delta?$expand=fields")
    assert trust_sim.sharepoint.expire_delta_tokens() >= 1
    gone = graph.get(delta_link)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "resyncRequired"
    values, _, _ = _all_pages(graph, gone.headers["Location"])
    assert [v["fields"]["Email"] for v in values] == ["a@fabrikam.com"]


# ---- subscriptions (SharePoint REST) -----------------------------------------------------------------------------
def test_subscription_is_created_after_the_validation_handshake_keeping_the_function_key(
        trust_sim, rest, guest_list, receiver):
    created = subscribe(trust_sim, rest, guest_list, receiver.url)
    assert created.status_code == 201, created.text
    assert created.json()["resource"] == guest_list and created.json()["notificationUrl"] == receiver.url
    assert len(receiver.validations) == 1
    assert receiver.validations[0]["code"] == ["function-key"] and receiver.validations[0]["validationtoken"][0]
    own = rest.get(f"{trust_sim.url('sharepoint')}/sites/partners/_api/web/lists('{guest_list}')/subscriptions"
                   f"('{created.json()['id']}')")
    assert own.status_code == 200 and own.json()["clientState"] == "s3cret"


def test_subscription_is_refused_when_the_endpoint_does_not_echo_the_token(trust_sim, rest, guest_list, receiver):
    receiver.echo = False
    refused = subscribe(trust_sim, rest, guest_list, receiver.url)
    assert refused.status_code == 400
    assert refused.json()["odata.error"]["code"] == "-1, System.InvalidOperationException"
    assert "Failed to validate the notification URL" in refused.json()["odata.error"]["message"]["value"]
    assert trust_sim.sharepoint.subscriptions.items == {}


def test_subscription_is_refused_when_the_endpoint_answers_too_late(trust_sim, rest, guest_list, receiver):
    trust_sim.sharepoint.subscriptions.validation_timeout = 0.2  # SharePoint waits 5 s; scaled down here
    receiver.delay = 0.6
    refused = subscribe(trust_sim, rest, guest_list, receiver.url)
    assert refused.status_code == 400
    assert trust_sim.sharepoint.subscriptions.handshakes[-1].error == "ReadTimeout"
    assert trust_sim.sharepoint.subscriptions.items == {}


def test_subscription_expiry_beyond_180_days_is_refused(trust_sim, rest, guest_list, receiver):
    late = (dt.datetime.now(dt.UTC) + dt.timedelta(days=181)).isoformat()
    refused = subscribe(trust_sim, rest, guest_list, receiver.url, expirationDateTime=late)
    assert refused.status_code == 400 and "within 6 months" in refused.json()["odata.error"]["message"]["value"]
    assert receiver.validations == []


def test_sharepoint_rest_refuses_graph_tokens_and_client_secret_tokens(trust_sim, graph, guest_list, receiver):
    wrong_audience = subscribe(trust_sim, graph, guest_list, receiver.url)
    assert wrong_audience.status_code == 401 and "error_description" in wrong_audience.json()
    app = trust_sim.identity.add_app(roles=["Sites.ReadWrite.All"], secret=True)
    token = requests.post(f"{trust_sim.authority_host}/{trust_sim.tenant_id}/oauth2/v2.0/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": app.client_id, "client_secret": app.secret,
        "scope": trust_sim.url("sharepoint") + "/.default"}).json()["access_token"]
    secret_session = requests.Session()
    secret_session.headers["Authorization"] = "Bearer " + token
    refused = subscribe(trust_sim, secret_session, guest_list, receiver.url)
    assert refused.status_code == 401 and refused.json() == {"error_description": "Unsupported app only token."}


def test_listing_all_subscriptions_needs_full_control_and_errors_follow_the_accept_header(trust_sim, rest, guest_list):
    url = f"{trust_sim.url('sharepoint')}/sites/partners/_api/web/lists('{guest_list}')/subscriptions"
    light = rest.get(url, headers={"Accept": "application/json;odata=nometadata"})
    assert light.status_code == 403
    assert light.json()["odata.error"]["code"] == "-2147024891, System.UnauthorizedAccessException"
    verbose = rest.get(url, headers={"Accept": "application/json;odata=verbose"})
    assert verbose.json()["error"]["message"]["lang"] == "en-US"
    admin, _ = session_for(trust_sim, ["Sites.FullControl.All"], trust_sim.url("sharepoint"))
    assert admin.get(url, headers={"Accept": "application/json"}).json()["value"] == []


def test_subscription_is_renewed_and_deleted_by_the_app_that_created_it(trust_sim, rest, guest_list, receiver):
    created = subscribe(trust_sim, rest, guest_list, receiver.url).json()
    one = (f"{trust_sim.url('sharepoint')}/sites/partners/_api/web/lists('{guest_list}')/subscriptions"
           f"('{created['id']}')")
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=179)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert rest.patch(one, json={"expirationDateTime": later}).status_code == 204
    assert rest.get(one).json()["expirationDateTime"] == later
    other, _ = session_for(trust_sim, ["Sites.ReadWrite.All"], trust_sim.url("sharepoint"))
    assert other.get(one).status_code == 404
    assert rest.delete(one).status_code == 204
    assert rest.get(one).status_code == 404


# ---- notifications ---------------------------------------------------------------------------------------------
def test_changes_are_notified_in_one_batch_without_item_data(trust_sim, graph, rest, guest_list, receiver):
    subscription_id = subscribe(trust_sim, rest, guest_list, receiver.url).json()["id"]
    notifier = trust_sim.sharepoint.notifier
    notifier.paused = True
    items = f"{site_url(trust_sim)}/lists/{guest_list}/items"
    for n in range(3):
        graph.post(items, json={"fields": {"Email": f"u{n}@fabrikam.com"}})
    notifier.resume()
    deliveries = notifier.wait_for(1, state="delivered")
    assert len(deliveries) == 1 and len(receiver.notifications) == 1
    (entry,) = receiver.notifications[0]["value"]
    assert entry["subscriptionId"] == subscription_id and entry["clientState"] == "s3cret"
    assert entry["resource"] == guest_list and entry["tenantId"] == trust_sim.tenant_id
    assert entry["siteUrl"] == "/sites/partners" and entry["expirationDateTime"].endswith(".0000000Z")
    assert set(entry) == {"subscriptionId", "clientState", "expirationDateTime", "resource", "tenantId", "siteUrl",
                          "webId"}


def test_failed_notification_is_retried_on_the_scaled_schedule_then_delivered(
        trust_sim, graph, rest, guest_list, receiver):
    subscribe(trust_sim, rest, guest_list, receiver.url)
    trust_sim.sharepoint.notifier.retry_scale = 0.0001  # 5 minutes -> 30 ms
    receiver.answers = [500, 503]
    graph.post(f"{site_url(trust_sim)}/lists/{guest_list}/items", json={"fields": {"Email": "a@fabrikam.com"}})
    (delivery,) = trust_sim.sharepoint.notifier.wait_for(1, state="delivered")
    assert [a.status for a in delivery.attempts] == [500, 503, 200]


def test_notification_is_dropped_after_five_retries(trust_sim, graph, rest, guest_list, receiver):
    subscribe(trust_sim, rest, guest_list, receiver.url)
    trust_sim.sharepoint.notifier.retry_scale = 0.0001
    receiver.answers = [500] * 10
    graph.post(f"{site_url(trust_sim)}/lists/{guest_list}/items", json={"fields": {"Email": "a@fabrikam.com"}})
    (delivery,) = trust_sim.sharepoint.notifier.wait_for(1, state="dropped")
    assert delivery.state == "dropped" and len(delivery.attempts) == 6
    assert len(receiver.notifications) == 6


def test_expired_subscription_gets_no_notifications(trust_sim, graph, rest, guest_list, receiver):
    subscribe(trust_sim, rest, guest_list, receiver.url)
    trust_sim.clock.advance(91 * 86400)
    graph.post(f"{site_url(trust_sim)}/lists/{guest_list}/items", json={"fields": {"Email": "a@fabrikam.com"}})
    assert trust_sim.sharepoint.notifier.idle() and trust_sim.sharepoint.notifier.deliveries == []
