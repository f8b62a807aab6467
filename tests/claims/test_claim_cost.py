"""The claim's cost on the uncontended path, counted on the wire by bench/claims_cost.py's proxy: at most one
storage request before the invitation POST (the insert), one after (the outcome); a request joining a recorded
outcome sends no POST."""

from __future__ import annotations

import pytest

from bench.claims_cost import measure, rows
from simulator import Simulator

pytestmark = pytest.mark.azurite


def test_an_uncontended_invitation_costs_one_storage_request_before_the_post(trust_sim: Simulator,
                                                                            azurite: str) -> None:
    cost = measure(trust_sim, azurite, invitations=5)

    print(rows(cost))
    assert cost.before_post == [1] * 5  # the insert, and nothing else (of any table) on the way to Graph
    assert cost.table_requests == [2] * 5  # + the outcome, after Graph answered
    assert cost.joined_requests == [2] * 5  # the refused insert + the read of the outcome
    assert cost.joined_posts == 0
    assert all(met is not False for *_, met in rows(cost))
