"""A requests session against the simulator's Graph with a token minted for chosen app roles (test support)."""

from __future__ import annotations

from typing import Any

import requests

from simulator import Simulator

APP_ID = "5f3c1e2a-1111-4222-8333-444455556666"
ALL_ROLES = ["User.Invite.All", "User.Read.All", "GroupMember.ReadWrite.All"]


def mint(sim: Simulator, roles: list[str] | None = None, lifetime: int = 600, **claims: Any) -> str:
    body = {"aud": sim.graph_endpoint, "tid": sim.tenant_id, "appid": APP_ID, "oid": APP_ID, **claims}
    if roles:
        body["roles"] = roles
    return sim.tokens.issue(body, lifetime=lifetime)


class Graph:
    """GET/POST/PATCH under {graph_endpoint}/v1.0 with a bearer token, trusting the simulator's CA."""

    def __init__(self, sim: Simulator, token: str | None) -> None:
        self.sim = sim
        self.base = sim.graph_endpoint + "/v1.0"
        self.session = requests.Session()
        # Per request: requests lets REQUESTS_CA_BUNDLE from the environment override Session.verify.
        self.verify = str(sim.ca_path)
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.base + path, verify=self.verify, timeout=10, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.post(self.base + path, verify=self.verify, json=body, timeout=10, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.patch(self.base + path, verify=self.verify, json=body, timeout=10, **kwargs)


def graph_as(sim: Simulator, roles: list[str] | None = None, **claims: Any) -> Graph:
    return Graph(sim, mint(sim, roles if roles is not None else ALL_ROLES, **claims))


def error_of(response: requests.Response) -> tuple[int, str, str]:
    """(status, code, message) of a Graph error, after checking the body's shape and its request-id."""
    error = response.json()["error"]
    assert error["innerError"]["request-id"] == response.headers["request-id"]
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    return response.status_code, error["code"], error["message"]
