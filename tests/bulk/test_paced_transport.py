"""Which budgets each Graph request spends, and a 429 pausing every worker (over real HTTPS to the simulator)."""

from __future__ import annotations

import json

import requests

from guest_cli.bulk.paced_transport import _spending, budgets_for, paced_session
from guest_cli.bulk.rate_limit import DIRECTORY_WRITES, INVITATIONS, RateLimiter


def test_invitations_and_group_writes_spend_their_budgets_and_reads_spend_none() -> None:
    assert budgets_for("POST", "/v1.0/invitations") == [INVITATIONS]
    assert budgets_for("POST", "/v1.0/groups/abc/members/$ref") == [DIRECTORY_WRITES]
    assert budgets_for("PATCH", "/v1.0/groups/abc") == [DIRECTORY_WRITES]
    assert budgets_for("GET", "/v1.0/users?$filter=mail eq 'a@b.example'") == []
    assert budgets_for("GET", "/v1.0/groups/abc/members") == []


def test_a_batch_spends_one_unit_per_step_on_each_budget() -> None:
    steps = [{"id": str(n), "method": "POST", "url": f"/groups/g{n}/members/$ref"} for n in range(3)]
    steps.append({"id": "9", "method": "GET", "url": "/users/x"})
    request = requests.Request("POST", "https://graph.example/v1.0/$batch", data=json.dumps({"requests": steps}))
    assert list(_spending(request.prepare())) == [([DIRECTORY_WRITES], 3)]


def test_a_429_pauses_every_worker_for_its_retry_after(trust_sim) -> None:
    trust_sim.faults.add(service="graph", method="GET", path=r"/users$", status=429, retry_after=7, times=1)
    limiter = RateLimiter({INVITATIONS: RateLimiter().budgets[INVITATIONS]})
    session, adapter = paced_session(limiter, pool_size=2)
    with session:
        answer = session.get(f"{trust_sim.graph_endpoint}/v1.0/users", timeout=10)
    assert answer.status_code == 429 and adapter.throttled == 1
    assert 0.0 < limiter.paused_for() <= 7.0 and limiter.pauses == 1
