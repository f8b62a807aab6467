"""New guests join their groups in PATCH members@odata.bind requests, sent once the run's learned replication lag
has passed (issue 17.1): fewer directory writes per membership, nothing lost, nobody emailed twice; a PATCH that
fails as a whole falls back to single adds; a throttled one is sent again."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from guest_cli.bulk.command import BulkOptions, run_bulk
from guest_cli.bulk.rate_limit import DIRECTORY_WRITES, INVITATIONS, RateBudget
from simulator import Simulator
from simulator.graph import models
from tests.bulk.conftest import configure

PARTNERS, FALCON = models.PARTNERS_GROUP_ID, models.FALCON_GROUP_ID


def people_file(tmp_path: Path, count: int, groups: str = PARTNERS) -> tuple[Path, list[str]]:
    addresses = [f"bind{n:03d}@fabrikam.com" for n in range(count)]
    path = tmp_path / "people.csv"
    path.write_text("email,groupIds\n" + "".join(f"{a},{groups}\n" for a in addresses), encoding="utf-8")
    return path, addresses


def run(path: Path, **options) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_bulk(path, BulkOptions(results=str(path.with_suffix(".out.csv")), **options), out, err)
    return code, out.getvalue(), err.getvalue()


def new_members(sim: Simulator, group: str, addresses: list[str]) -> set[str]:
    ids = {sim.graph.user_by_mail(a)["id"] for a in addresses}
    return ids & set(sim.graph.members_of(group))


def test_under_lag_new_guests_cost_far_less_than_one_write_per_membership(monkeypatch, tmp_path) -> None:
    # 2 s of real replication lag (20 simulated s at 10x); invitations paced to 50 per second, so the run lasts
    # about 4 s and most guests are invited after the lag has been learned. Before PATCH requests and the learned
    # delay, each membership cost 2 writes here (one meeting the lag, one landing).
    with Simulator(replication_lag=20.0, time_scale=10.0) as sim:
        configure(sim, monkeypatch)
        path, addresses = people_file(tmp_path, 200)
        code, out, _ = run(path, concurrency=8,
                           budgets={INVITATIONS: RateBudget(25, 0.5), DIRECTORY_WRITES: RateBudget(3000, 150.0)})
        assert code == 0, out
        assert len(new_members(sim, PARTNERS, addresses)) == 200  # nothing lost
        assert all(sim.graph.emails_to(a) == 1 for a in addresses)  # nobody emailed twice
        writes = sim.graph.spent["directory_writes"]
        assert writes / 200 <= 0.6, writes
        assert sim.stats.count(service="graph", method="PATCH", path=r"/groups/") >= 10
        waited = float(re.search(r"waited ([0-9.]+) s after their invitation", out).group(1))
        assert waited >= 2.0  # learned from the lag met: longer than the 2 s real lag


def test_a_patch_refused_with_already_exist_falls_back_to_single_adds(tenant: Simulator, tmp_path) -> None:
    answer = {"error": {"code": "Request_BadRequest", "message": "One or more added object references already exist "
                        "for the following modified properties: 'members'."}}
    fault = tenant.faults.add(service="graph", method="PATCH", path=r"/groups/", status=400, times=1,
                              body=json.dumps(answer).encode(), content_type="application/json")
    path, addresses = people_file(tmp_path, 3, f"{PARTNERS};{FALCON}")
    code, out, _ = run(path)
    assert code == 0, out
    assert fault.hits == 1
    assert len(new_members(tenant, PARTNERS, addresses)) == 3 and len(new_members(tenant, FALCON, addresses)) == 3
    assert tenant.stats.count(service="graph", path=r"/\$batch$") >= 1  # the refused PATCH's members, one by one
    assert "(1 sent again as single adds)" in out


def test_a_throttled_patch_is_sent_again_whole(tenant: Simulator, tmp_path) -> None:
    fault = tenant.faults.add(service="graph", method="PATCH", path=r"/groups/", status=429, retry_after=1, times=1)
    path, addresses = people_file(tmp_path, 4)
    code, out, _ = run(path)
    assert code == 0, out
    assert fault.hits == 1 and "1 throttled answers (429)" in out
    assert len(new_members(tenant, PARTNERS, addresses)) == 4
    assert tenant.stats.count(service="graph", path=r"/\$batch$") == 0  # no fallback: nothing was applied


def test_a_patch_that_keeps_failing_on_the_server_side_ends_as_single_adds(tenant: Simulator, tmp_path) -> None:
    from guest_cli.bulk.membership_batches import MAX_BIND_ATTEMPTS
    from shared.graph import MAX_ATTEMPTS

    fault = tenant.faults.add(service="graph", method="PATCH", path=r"/groups/", status=503, retry_after=0)
    path, addresses = people_file(tmp_path, 3)
    code, out, _ = run(path)
    assert code == 0, out
    assert len(new_members(tenant, PARTNERS, addresses)) == 3
    assert fault.hits == MAX_BIND_ATTEMPTS * MAX_ATTEMPTS  # the same PATCH, then never again
    assert tenant.stats.count(service="graph", path=r"/\$batch$") >= 1 and "(1 sent again as single adds)" in out
