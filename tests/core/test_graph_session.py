"""The Graph session reads the environment once, when it is built: the CA to trust (REQUESTS_CA_BUNDLE), the proxy
(HTTPS_PROXY unless NO_PROXY names Graph's host) and the pool size (host.json's concurrency, or
GRAPH_CONNECTION_POOL_SIZE). Proxying is checked through a real CONNECT proxy on loopback."""

from __future__ import annotations

import json
import select
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import shared.graph
from shared.credentials import build_token_provider
from shared.graph import GraphClient, GraphError, connection_pool_size, host_concurrency
from shared.settings import Settings, SettingsError
from simulator import Simulator

PROXY_SETTINGS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy",
                  "HTTP_PROXY", "http_proxy", "CURL_CA_BUNDLE", shared.graph.POOL_SIZE_SETTING)


class ConnectProxy(socketserver.ThreadingTCPServer):
    """A tiny HTTP CONNECT proxy: records each target, then pipes bytes both ways (TLS stays end to end)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.targets: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Tunnel(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target, _ = head.split(b"\r\n", 1)[0].decode("ascii").split(" ", 2)
        self.server.targets.append(target)  # type: ignore[attr-defined]
        host, port = target.rsplit(":", 1)
        if method != "CONNECT":
            self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        with socket.create_connection((host, int(port)), timeout=10) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            sockets = [self.request, upstream]
            while True:
                readable, _, _ = select.select(sockets, [], [], 10)
                if not readable:
                    return
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is self.request else self.request).sendall(data)


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    server = ConnectProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_SETTINGS:
        monkeypatch.delenv(name, raising=False)


def client(sim: Simulator) -> GraphClient:
    app = sim.identity.default_app
    settings = Settings.from_env({"AZURE_TENANT_ID": sim.tenant_id, "AZURE_CLIENT_ID": app.client_id,
                                  "AZURE_CLIENT_SECRET": app.secret, "AZURE_AUTHORITY_HOST": sim.authority_host,
                                  "GRAPH_ENDPOINT": sim.graph_endpoint})
    return GraphClient(settings.graph_endpoint, build_token_provider(settings), sleep=lambda seconds: None)


def graph_target(sim: Simulator) -> str:
    return sim.graph_endpoint.split("://", 1)[1].rstrip("/")


def test_graph_calls_go_through_the_https_proxy_and_still_verify_the_simulators_ca(
        trust_sim: Simulator, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    graph = client(trust_sim)

    assert graph.find_users_by_email("nobody@fabrikam.com", graph.budget(30)) == []
    assert graph.find_users_by_email("nobody.else@fabrikam.com", graph.budget(30)) == []

    # One tunnel, kept alive for both calls; the token request is msal's own session (it reads the environment).
    assert proxy.targets.count(graph_target(trust_sim)) == 1
    assert trust_sim.stats.count(service="graph", route="users.list") == 2
    graph.close()


def test_no_proxy_naming_the_graph_host_connects_directly(
        trust_sim: Simulator, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "example.org,localhost,127.0.0.1")
    graph = client(trust_sim)

    assert graph.find_users_by_email("nobody@fabrikam.com", graph.budget(30)) == []

    assert graph_target(trust_sim) not in proxy.targets
    graph.close()


def test_the_environment_is_read_once_when_the_session_is_built(
        trust_sim: Simulator, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    graph = client(trust_sim)
    graph.find_users_by_email("first@fabrikam.com", graph.budget(30))  # the token is fetched (msal reads the env)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "no-such-bundle.pem"))
    graph.session.close()  # force a new connection: it too must be made as decided at start-up

    assert graph.find_users_by_email("second@fabrikam.com", graph.budget(30)) == []

    assert proxy.targets == []
    assert graph.session.trust_env is False
    graph.close()


def test_without_the_simulators_ca_the_graph_call_fails_verification(trust_sim: Simulator,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    graph = client(trust_sim)
    graph.tokens.token()  # msal trusts the CA from the environment (its own session)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    untrusting = GraphClient(trust_sim.graph_endpoint, graph.tokens, sleep=lambda seconds: None)

    with pytest.raises(GraphError) as failure:
        untrusting.find_users_by_email("nobody@fabrikam.com", untrusting.budget(5))

    assert failure.value.code == "connectionFailed"
    assert trust_sim.stats.count(service="graph") == 0
    untrusting.close()
    graph.close()


def test_curl_ca_bundle_is_trusted_when_requests_ca_bundle_is_unset(trust_sim: Simulator,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CURL_CA_BUNDLE", str(trust_sim.ca_path))
    graph = client(trust_sim)
    graph.tokens.token()
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    second = GraphClient(trust_sim.graph_endpoint, graph.tokens, sleep=lambda seconds: None)

    assert second.find_users_by_email("nobody@fabrikam.com", second.budget(30)) == []
    second.close()
    graph.close()


def test_the_pool_holds_twice_host_jsons_queue_concurrency() -> None:
    host = json.loads(shared.graph.HOST_JSON.read_text(encoding="utf-8"))["extensions"]["queues"]

    assert host_concurrency() == host["batchSize"] + host["newBatchThreshold"]
    assert connection_pool_size({}) == 2 * host_concurrency()
    adapter = shared.graph.new_session().get_adapter("https://")
    assert adapter._pool_maxsize == connection_pool_size({})  # what urllib3 is given


def test_a_host_json_without_queue_settings_gets_the_extensions_defaults(tmp_path: Path) -> None:
    host_json = tmp_path / "host.json"
    host_json.write_text('{"version": "2.0"}', encoding="utf-8")

    assert host_concurrency(host_json) == 16 + 8
    assert host_concurrency(tmp_path / "missing.json") == 16 + 8
    host_json.write_text('{"extensions": {"queues": {"batchSize": 4}}}', encoding="utf-8")
    assert host_concurrency(host_json) == 4 + 2


def test_the_pool_size_setting_overrides_host_json() -> None:
    assert connection_pool_size({"GRAPH_CONNECTION_POOL_SIZE": "40"}) == 40
    assert connection_pool_size({"GRAPH_CONNECTION_POOL_SIZE": " "}) == 2 * host_concurrency()


@pytest.mark.parametrize("value", ["0", "-3", "ten", "2.5", "1001"])
def test_a_malformed_pool_size_setting_is_refused_naming_it(value: str) -> None:
    with pytest.raises(SettingsError) as refused:
        connection_pool_size({"GRAPH_CONNECTION_POOL_SIZE": value})

    assert refused.value.names == ["GRAPH_CONNECTION_POOL_SIZE"]


def test_sixteen_concurrent_callers_open_at_most_sixteen_connections(trust_sim: Simulator) -> None:
    # Each answer waits 50 ms so that the 16 threads' requests overlap; a pool of 10 would discard up to 6
    # connections per round and open new ones (about 40 over 5 rounds).
    trust_sim.faults.add(service="graph", method="GET", latency=0.05)
    graph = client(trust_sim)
    graph.tokens.token()
    barrier = threading.Barrier(16)
    failures: list[BaseException] = []

    def caller(number: int) -> None:
        try:
            for round_ in range(5):
                barrier.wait(timeout=30)
                graph.find_users_by_email(f"c{number}.r{round_}@fabrikam.com", graph.budget(30))
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=caller, args=(number,)) for number in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert trust_sim.stats.count(service="graph", route="users.list") == 80
    assert trust_sim.stats.connections["graph"] <= 16
    graph.close()


def test_a_session_built_without_proxies_in_the_environment_pins_a_direct_route(trust_sim: Simulator) -> None:
    graph = client(trust_sim)

    assert graph.session.proxies == {f"https://{graph_target(trust_sim).rsplit(':', 1)[0]}": None}
    assert isinstance(graph.session, requests.Session)
    graph.close()


def _closed_port() -> int:
    with socket.socket() as probe:  # bound, never listening: a connect to it is refused
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_invitation_that_could_not_connect_is_not_ambiguous_and_is_posted_again(trust_sim: Simulator) -> None:
    # Nothing was sent (connection refused after urllib3's own connect retries): the POST cannot have been applied,
    # so it is tried again at once (shared.graph.never_sent), not treated as a lost answer.
    graph = client(trust_sim)
    waits: list[float] = []
    unreachable = GraphClient(f"https://127.0.0.1:{_closed_port()}", graph.tokens, sleep=waits.append)

    with pytest.raises(GraphError) as failure:
        unreachable.invite({"invitedUserEmailAddress": "alice@fabrikam.com"}, unreachable.budget(30))

    assert failure.value.code == "connectionFailed" and failure.value.ambiguous is False
    assert len(waits) == shared.graph.MAX_ATTEMPTS - 1  # our loop posted again after each refused connection
    unreachable.close()
    graph.close()


def test_an_invitation_whose_connection_closed_after_sending_is_ambiguous_and_not_posted_again(
        trust_sim: Simulator) -> None:
    trust_sim.faults.add(service="graph", method="POST", path=r"/invitations$", drop=True, times=1)
    graph = client(trust_sim)

    with pytest.raises(GraphError) as failure:
        graph.invite({"invitedUserEmailAddress": "alice@fabrikam.com", "inviteRedirectUrl": "https://myapps.microsoft.com"},
                     graph.budget(30))

    assert failure.value.code == "connectionFailed" and failure.value.ambiguous is True
    assert trust_sim.stats.count(service="graph", method="POST") == 1  # Graph may have it: never replayed blindly
    graph.close()
