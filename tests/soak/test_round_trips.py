"""bench/run.py's round-trip rows: every Graph request one onboarding costs, through the worker, the status record
and claim on Azurite, and each put-back (held) copy delivered until settled, counted by the simulator."""

from __future__ import annotations

import pytest

from bench.run import round_trips
from shared import runtime
from simulator import Simulator


@pytest.fixture
def trusted_sim(monkeypatch: pytest.MonkeyPatch):
    with Simulator() as sim:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_path))
        yield sim
        runtime.reset()


def test_an_onboarding_costs_a_lookup_an_invitation_and_a_read_and_a_write_per_group(trusted_sim: Simulator,
                                                                                     azurite: str) -> None:
    rows = {measure: int(figure) for measure, figure, _goal, _met in round_trips(trusted_sim, azurite)}

    for k in (1, 2, 3):  # the held copy of a new guest's message costs no Graph request; the write after it does
        assert rows[f"Graph round trips, new guest, k={k} groups"] == 2 * k + 2
        assert rows[f"Graph round trips, existing member, k={k} groups"] == 2 * k + 1
    # the adds really happened: group n (from 0) is in every request with k > n, a guest and a member each
    bench_groups = [group for group in trusted_sim.graph.groups.values() if group.display_name.startswith("Bench")]
    assert sorted(len(group.members) for group in bench_groups) == [2, 4, 6]
