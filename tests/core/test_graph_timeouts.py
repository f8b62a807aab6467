"""GraphClient's timeouts are its own arguments (defaulting to shared.graph's constants), so a caller such as the
soak can shorten them without touching the module."""

from __future__ import annotations

import shared.graph
from shared.credentials import build_token_provider
from shared.graph import GraphClient
from shared.settings import Settings
from simulator import Simulator

USERS = r"/v1\.0/users$"


def client(sim: Simulator, **timeouts: float) -> GraphClient:
    app = sim.identity.default_app
    settings = Settings.from_env({"AZURE_TENANT_ID": sim.tenant_id, "AZURE_CLIENT_ID": app.client_id,
                                  "AZURE_CLIENT_SECRET": app.secret, "AZURE_AUTHORITY_HOST": sim.authority_host,
                                  "GRAPH_ENDPOINT": sim.graph_endpoint})
    return GraphClient(settings.graph_endpoint, build_token_provider(settings), sleep=lambda seconds: None,
                       **timeouts)


def test_the_timeouts_default_to_the_module_constants(trust_sim: Simulator) -> None:
    graph = client(trust_sim)
    assert (graph.connect_timeout, graph.read_timeout) == (shared.graph.CONNECT_TIMEOUT, shared.graph.READ_TIMEOUT)
    graph.close()


def test_an_answer_slower_than_the_read_timeout_argument_is_abandoned_and_retried(trust_sim: Simulator) -> None:
    # 1.5 s is well inside the default 20 s: only the argument makes the client give up on the first answer.
    trust_sim.faults.add(service="graph", method="GET", path=USERS, latency=1.5, times=1)
    graph = client(trust_sim, read_timeout=1.0)

    users = graph.find_users_by_email("nobody@fabrikam.com", graph.budget(30))

    assert users == []
    # The slow request is recorded only when its late answer is written; the connection the client abandoned for a
    # new one is counted when it opened.
    assert trust_sim.stats.connections["graph"] == 2
    graph.close()

