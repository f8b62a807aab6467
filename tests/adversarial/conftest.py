"""The ``doors`` fixture: every door of the app against the simulated tenant (see doors.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared import runtime
from simulator import Simulator

from .doors import Doors


@pytest.fixture
def doors(trust_sim: Simulator, azurite: str) -> Iterator[Doors]:
    trust_sim.throttling = False  # Graph's invitation limit is not what these tests probe
    yield Doors(trust_sim, azurite).configure()
    runtime.reset()
