"""Point the app's settings at a simulated tenant (secret mode), as an operator's environment would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared import runtime
from simulator import Simulator

SETTINGS = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_CLIENT_CERTIFICATE_PASSWORD", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_AUTHORITY_HOST",
            "GRAPH_ENDPOINT", "INVITE_REDIRECT_URL", "ALLOWED_GROUP_IDS", "ALLOWED_EMAIL_DOMAINS",
            "BLOCKED_EMAIL_DOMAINS", "REQUESTS_CA_BUNDLE")


def tenant_environment(sim: Simulator, **overrides: str) -> dict[str, str]:
    app = sim.identity.default_app
    return {"AZURE_AUTHORITY_HOST": sim.authority_host, "GRAPH_ENDPOINT": sim.graph_endpoint,
            "AZURE_TENANT_ID": sim.tenant_id, "AZURE_CLIENT_ID": app.client_id, "AZURE_CLIENT_SECRET": app.secret,
            "REQUESTS_CA_BUNDLE": str(sim.ca_path), "ALLOWED_GROUP_IDS": "*", **overrides}


def configure(sim: Simulator, monkeypatch: pytest.MonkeyPatch, **overrides: str) -> Simulator:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in tenant_environment(sim, **overrides).items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    return sim


@pytest.fixture
def tenant(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """The default simulated tenant, configured as the app's tenant (no demo banner, real settings path)."""
    yield configure(sim, monkeypatch)
    runtime.reset()


def graph_calls(sim: Simulator, status: int | None = None) -> int:
    return sum(1 for r in sim.stats.requests if r.service == "graph" and (status is None or r.status == status))
