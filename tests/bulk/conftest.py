"""Point the app's settings at a simulated tenant (secret mode), as an operator's environment would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared import runtime
from simulator import Simulator
from tests.tenant_settings import point_app_at, simulator_settings


def tenant_environment(sim: Simulator, **overrides: str) -> dict[str, str | None]:
    return simulator_settings(sim, REQUESTS_CA_BUNDLE=str(sim.ca_path), **overrides)


def configure(sim: Simulator, monkeypatch: pytest.MonkeyPatch, **overrides: str) -> Simulator:
    point_app_at(sim, monkeypatch, clear=("REQUESTS_CA_BUNDLE",), REQUESTS_CA_BUNDLE=str(sim.ca_path), **overrides)
    return sim


@pytest.fixture
def tenant(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """The default simulated tenant, configured as the app's tenant (no demo banner, real settings path)."""
    yield configure(sim, monkeypatch)
    runtime.reset()


def graph_calls(sim: Simulator, status: int | None = None) -> int:
    return sum(1 for r in sim.stats.requests if r.service == "graph" and (status is None or r.status == status))
