"""`cli.py bulk` against the simulated tenant: both formats, bad rows, throttling, replication lag, crash + resume."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from pathlib import Path

from guest_cli.bulk.command import BulkOptions, run_bulk
from guest_cli.bulk.rate_limit import DIRECTORY_WRITES, INVITATIONS, RateBudget
from simulator import Simulator
from simulator.graph import models
from simulator.graph.throttling import Budget as GraphBudget
from tests.bulk.conftest import configure, graph_calls, tenant_environment

ROOT = Path(__file__).resolve().parents[2]
PARTNERS, FALCON, FINANCE = models.PARTNERS_GROUP_ID, models.FALCON_GROUP_ID, models.FINANCE_GROUP_ID
PORTAL_HEADER = ("version:v1.0\nEmail address to invite [inviteeEmail] Required,Redirection url [inviteRedirectURL] "
                 "Required,Send invitation message (true or false) [sendEmail],Customized invitation message "
                 "[customizedMessageBody],Name of invitee [inviteeName],Groups [groupIds]\n")


def bulk(path: Path, **options) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    options.setdefault("results", str(path.with_suffix(".out.csv")))
    code = run_bulk(path, BulkOptions(**options), out, err)
    return code, out.getvalue(), err.getvalue()


def results_of(path: Path) -> list[dict[str, str]]:
    with path.with_suffix(".out.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def plain_file(tmp_path: Path, addresses: list[str], groups: str = PARTNERS, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text("email,displayName,groupIds\n" + "".join(f"{a},{a.split('@')[0]},{groups}\n" for a in addresses),
                    encoding="utf-8")
    return path


def test_the_portal_sample_file_invites_everyone_and_adds_them_to_their_groups(tenant: Simulator, tmp_path) -> None:
    path = tmp_path / "sample.csv"
    path.write_bytes((ROOT / "examples" / "bulk-invite-sample.csv").read_bytes())
    code, out, _ = bulk(path)
    assert code == 0, out
    rows = results_of(path)
    assert [(r["line"], r["status"], r["invitation"]) for r in rows] == [
        ("3", "done", "invited"), ("4", "done", "invited"), ("5", "done", "invited"), ("6", "done", "invited")]
    alice = tenant.graph.user_by_mail("alice@fabrikam.com")
    assert alice["displayName"] == "Alice Smith"
    assert alice["id"] in tenant.graph.members_of(PARTNERS) and alice["id"] in tenant.graph.members_of(FALCON)
    assert tenant.graph.user_by_mail("o'brien@fabrikam.com")["id"] in tenant.graph.members_of(PARTNERS)
    assert tenant.graph.emails_to("carol@example.com") == 0  # [sendEmail] false
    assert tenant.graph.emails_to("bob@fabrikam.com") == 1


def test_plain_file_with_an_existing_guest_and_a_member_invites_only_the_new_person(tenant: Simulator,
                                                                                     tmp_path) -> None:
    member = f"megan@{tenant.tenant_domain}"
    path = plain_file(tmp_path, [models.ACCEPTED_GUEST_MAIL, member, "new.person@fabrikam.com"], FALCON)
    code, _, _ = bulk(path)
    assert code == 0
    assert [(r["invitation"], r["groups"]) for r in results_of(path)] == [
        ("existing", f"{FALCON}=added"), ("existing", f"{FALCON}=already-member"), ("invited", f"{FALCON}=added")]
    assert graph_calls(tenant) and tenant.stats.count(service="graph", method="POST", path=r"/invitations$") == 1


def test_every_bad_row_is_reported_and_nothing_is_sent(tenant: Simulator, monkeypatch, tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(PORTAL_HEADER
                    + f"alice@fabrikam.com,https://myapplications.microsoft.com,true,,Alice,{PARTNERS}\n"
                    + "bob(at)fabrikam.com,https://myapplications.microsoft.com,true,,Bob,\n"
                    + f"carol@fabrikam.com,http://not-https.example,maybe,,Carol,{PARTNERS};nope\n"
                    + "dave@blocked.example,https://myapplications.microsoft.com,true,,Dave,\n", encoding="utf-8")
    configure(tenant, monkeypatch, BLOCKED_EMAIL_DOMAINS="blocked.example")
    code, out, err = bulk(path)
    assert code == 2 and out == ""
    lines = [line.strip() for line in err.splitlines() if line.strip().startswith("line ")]
    assert [line.split(",")[0] for line in lines] == ["line 4", "line 5", "line 5", "line 5", "line 6"]
    assert "blocked" in lines[-1] and "BLOCKED_EMAIL_DOMAINS" in lines[-1]
    assert "nothing was sent" in err
    assert graph_calls(tenant) == 0 and tenant.stats.count(service="login") == 0
    assert not path.with_suffix(".out.csv").exists()


def test_dry_run_validates_and_sends_nothing(tenant: Simulator, tmp_path) -> None:
    path = plain_file(tmp_path, ["a@fabrikam.com", "b@fabrikam.com"])
    code, out, _ = bulk(path, dry_run=True)
    assert code == 0 and "2 rows valid" in out and "nothing was sent" in out
    assert graph_calls(tenant) == 0


def test_groups_outside_allowed_group_ids_are_bad_rows(sim: Simulator, monkeypatch, tmp_path) -> None:
    configure(sim, monkeypatch, ALLOWED_GROUP_IDS=PARTNERS)
    path = plain_file(tmp_path, ["a@fabrikam.com"], f"{PARTNERS};{FALCON}")
    code, _, err = bulk(path)
    assert code == 2 and "line 2, groupIds" in err and "ALLOWED_GROUP_IDS" in err
    assert graph_calls(sim) == 0


def test_a_refused_group_fails_its_row_and_the_others_finish(tenant: Simulator, tmp_path) -> None:
    path = plain_file(tmp_path, ["a@fabrikam.com", "b@fabrikam.com"], FINANCE)
    path.write_text(path.read_text().replace(f"b,{FINANCE}", f"b,{PARTNERS}"), encoding="utf-8")
    code, out, _ = bulk(path)
    assert code == 1 and "1 failed" in out
    first, second = results_of(path)
    assert first["status"] == "failed" and "Guests users are not allowed" in first["error"]
    assert second["status"] == "done"


def test_a_throttled_tenant_is_paced_without_a_storm_of_429s(monkeypatch, tmp_path) -> None:
    # Graph's invitation budget lowered to 10 per 5 simulated seconds, with time 10x faster: 10 per 0.5 s real.
    with Simulator(time_scale=10.0) as sim:
        sim.graph.limits["invitations"] = GraphBudget(10, 5.0)
        configure(sim, monkeypatch)
        path = plain_file(tmp_path, [f"guest{n:02d}@fabrikam.com" for n in range(40)])
        # The client's pace: the same 10, over a window 0.1 s longer to absorb a loaded machine's latency jitter.
        code, out, _ = bulk(path, concurrency=8,
                            budgets={INVITATIONS: RateBudget(10, 0.6), DIRECTORY_WRITES: RateBudget(3000, 150.0)})
        assert code == 0, out
        assert all(r["status"] == "done" for r in results_of(path)) and len(results_of(path)) == 40
        assert sim.stats.count(service="graph", method="POST", path=r"/invitations$") - graph_calls(sim, 429) == 40
        # Unpaced, this load meets a 429 at every window (each then pauses every worker): 3 or more here.
        assert graph_calls(sim, 429) <= 1


def test_replication_lag_is_waited_out_and_every_membership_lands(monkeypatch, tmp_path) -> None:
    with Simulator(replication_lag=20.0, time_scale=10.0) as sim:  # 2 s of real lag
        configure(sim, monkeypatch)
        path = plain_file(tmp_path, [f"late{n}@fabrikam.com" for n in range(5)], f"{PARTNERS};{FALCON}")
        code, out, _ = bulk(path)
        assert code == 0, out
        users = [sim.graph.user_by_mail(f"late{n}@fabrikam.com")["id"] for n in range(5)]
        assert set(users) <= set(sim.graph.members_of(PARTNERS)) and set(users) <= set(sim.graph.members_of(FALCON))
        assert any(sim.graph.member_add_attempts[(PARTNERS, user)] > 1 for user in users)  # the lag was met
        assert sim.stats.count(service="graph", path=r"/\$batch$") >= 2


def test_a_run_killed_halfway_resumes_without_inviting_anyone_twice(sim: Simulator, monkeypatch, tmp_path) -> None:
    configure(sim, monkeypatch)
    addresses = [f"member{n:02d}@fabrikam.com" for n in range(16)]
    path = plain_file(tmp_path, addresses)
    results = path.with_suffix(".out.csv")
    sim.faults.add(service="graph", method="POST", path=r"/invitations$", latency=0.25)  # slow enough to interrupt
    env = {**os.environ, **tenant_environment(sim)}
    process = subprocess.Popen([sys.executable, "cli.py", "bulk", str(path), "--concurrency", "2",  # noqa: S603
                                "--results", str(results)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while _recorded(results) < 4 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait()
    recorded_before = _recorded(results)
    assert 4 <= recorded_before < len(addresses)  # it really died halfway
    sim.faults.clear()
    code, out, _ = bulk(path, results=str(results))
    assert code == 0, out
    rows = list(csv.DictReader(results.open(newline="", encoding="utf-8")))
    assert sorted(r["email"] for r in rows) == addresses and all(r["status"] == "done" for r in rows)
    assert all(sim.graph.emails_to(address) == 1 for address in addresses)
    assert set(sim.graph.members_of(PARTNERS)) >= {sim.graph.user_by_mail(a)["id"] for a in addresses}


def _recorded(results: Path) -> int:
    if not results.exists():
        return 0
    return sum(1 for line in results.read_text(encoding="utf-8").splitlines()[1:] if ",done," in line)


def test_a_throttled_batch_step_pauses_and_is_sent_again(tenant: Simulator, tmp_path) -> None:
    # People already in the directory join through $batch single adds (new guests go in PATCH requests).
    fault = tenant.faults.add(service="graph", method="POST", path=r"/members/\$ref$", status=429, retry_after=1,
                              times=1)
    people = [models.ACCEPTED_GUEST_MAIL, f"megan@{tenant.tenant_domain}"]
    path = plain_file(tmp_path, people, FALCON)
    code, out, _ = bulk(path)
    assert code == 0, out
    assert fault.hits == 1 and "1 throttled answers (429), 1 pauses" in out
    assert {tenant.graph.user_by_mail(a)["id"] for a in people} <= set(tenant.graph.members_of(FALCON))
