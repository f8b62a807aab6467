"""The ``app`` harness of tests/core (settings pointing at the simulator), for the local host's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared import runtime
from simulator import Simulator
from tests.core.conftest import AppHarness


@pytest.fixture
def app(trust_sim: Simulator, monkeypatch: pytest.MonkeyPatch, azurite: str) -> Iterator[AppHarness]:
    harness = AppHarness(trust_sim, monkeypatch, azurite).configure()
    yield harness
    runtime.reset()
