"""The grant expiry soak's short version (bench/grant_soak.py runs 1,000): 80 grants made through the worker, then
removals under 429 (Retry-After), 503 and dropped connections (before and after the work) with the hourly timer
run by the worker: each expired grant removed exactly once, nothing else removed, nothing lost."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.grant_soak import GrantSoakConfig, run_grant_soak
from shared import runtime
from simulator import Simulator


@pytest.fixture
def soak_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    with Simulator(random_seed=15) as sim:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_path))
        yield sim
        runtime.reset()


def test_eighty_grants_expiring_under_faults_are_each_removed_once_and_nothing_else(soak_sim: Simulator,
                                                                                     azurite: str) -> None:
    config = GrantSoakConfig(grants=80, seed=15, foreign_members=20, throttled=0.2, unavailable=0.1, dropped=0.1)
    report = run_grant_soak(soak_sim, azurite, config)

    print(report.summary())
    assert report.problems() == []
    assert report.expired > 40 and report.kept > 5 and report.foreign == 20
    assert all(report.fault_hits.values())  # every kind of fault fired


def test_the_soak_notices_a_member_removed_that_was_not_granted(soak_sim: Simulator, azurite: str) -> None:
    # Someone else's member gone after the expiry (as a greedy expiry would leave it): the accounting must say so.
    def remove_a_foreign_member(sim: Simulator) -> None:
        with sim.graph.lock:
            group = next(g for g in sim.graph.groups.values() if g.display_name.startswith("Grant soak"))
            staff = next(m for m in group.members if sim.graph.users[m]["userType"] == "Member")
            group.members.remove(staff)

    report = run_grant_soak(soak_sim, azurite, GrantSoakConfig(grants=10, seed=16, foreign_members=4, throttled=0,
                                                                unavailable=0, dropped=0,
                                                                after_expiry=remove_a_foreign_member))
    assert any("added by someone else was removed" in problem for problem in report.problems())
