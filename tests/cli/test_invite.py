"""`cli.py invite`: the core's flow from the command line, memberships waited out, exit codes; and the embedded
demo tenant through the README's quick-start command."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from guest_cli import build_parser
from simulator import Simulator
from simulator.graph import models
from tests.bulk.conftest import configure, graph_calls
from tests.tenant_settings import APP_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
PARTNERS, FALCON, FINANCE = models.PARTNERS_GROUP_ID, models.FALCON_GROUP_ID, models.FINANCE_GROUP_ID


def invite(*argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["invite", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = args.handler(args, out, err)
    return code, out.getvalue(), err.getvalue()


def test_the_readme_quick_start_runs_on_the_embedded_demo_tenant() -> None:
    env = {name: value for name, value in os.environ.items() if name not in (*APP_SETTINGS, "REQUESTS_CA_BUNDLE")}
    completed = subprocess.run([sys.executable, "cli.py", "invite", "alice@fabrikam.com", "--group", PARTNERS],  # noqa: S603
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "DEMO TENANT" in completed.stderr and "nothing real" in completed.stderr
    assert PARTNERS in completed.stderr  # the banner names the demo groups
    assert "Invited alice@fabrikam.com as a guest" in completed.stdout
    assert "redeem URL  https://" in completed.stdout
    assert f"Partners ({PARTNERS}): added after" in completed.stdout
    # No status record on the demo tenant (nothing real is touched), said in one line: the demo's only new line.
    assert completed.stderr.count("Status record:") == 1
    assert "Status record: none on the demo tenant" in completed.stderr


def test_a_demo_bulk_run_writes_its_results_to_a_printed_temporary_folder_not_beside_the_csv(tmp_path) -> None:
    folder, temp = tmp_path / "examples", tmp_path / "tmp"
    folder.mkdir()
    temp.mkdir()
    sample = folder / "bulk-invite-sample.csv"
    sample.write_bytes((ROOT / "examples" / "bulk-invite-sample.csv").read_bytes())
    unset = (*APP_SETTINGS, "REQUESTS_CA_BUNDLE")
    env = {name: value for name, value in os.environ.items() if name not in unset} | {"TMPDIR": str(temp)}
    completed = subprocess.run([sys.executable, "cli.py", "bulk", str(sample)], cwd=ROOT, env=env,  # noqa: S603
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert sorted(folder.iterdir()) == [sample]  # nothing beside the CSV: a clone's examples/ stays clean
    printed = [line.removeprefix("Results: ") for line in completed.stdout.splitlines() if line.startswith("Results: ")]
    results = Path(printed[0])
    assert results.is_file() and results.parent.parent == temp and results.parent.name.startswith("guest-onboarding-")
    assert str(results) in completed.stdout.splitlines()[1]  # said before the run starts, too
    assert results.read_text(encoding="utf-8").count(",done,") == 4


def test_help_names_the_demo_groups() -> None:
    text = build_parser()._subparsers._group_actions[0].choices["invite"].format_help()
    assert PARTNERS in text and "Partners" in text and "nothing real" in text


def test_a_new_guest_is_invited_and_added_to_every_group(tenant: Simulator) -> None:
    code, out, _ = invite("new.guest@fabrikam.com", "--name", "New Guest", "--group", PARTNERS, "--group", FALCON,
                          "--message", "Welcome", "--no-email")
    assert code == 0
    user = tenant.graph.user_by_mail("new.guest@fabrikam.com")
    assert user["displayName"] == "New Guest" and f"user id     {user['id']}" in out
    assert user["id"] in tenant.graph.members_of(PARTNERS) and user["id"] in tenant.graph.members_of(FALCON)
    assert tenant.graph.emails_to("new.guest@fabrikam.com") == 0  # --no-email
    assert "DEMO TENANT" not in out


def test_an_existing_guest_is_not_invited_again_and_already_member_is_success(tenant: Simulator) -> None:
    code, out, _ = invite(models.ACCEPTED_GUEST_MAIL, "--group", PARTNERS)
    assert code == 0
    assert "already in the directory" in out and "already a member" in out
    assert tenant.stats.count(service="graph", method="POST", path=r"/invitations$") == 0


def test_replication_lag_is_waited_out_with_a_countdown(monkeypatch) -> None:
    with Simulator(replication_lag=30.0, time_scale=20.0) as sim:  # 1.5 s of real lag
        configure(sim, monkeypatch)
        code, out, err = invite("slow@fabrikam.com", "--group", PARTNERS)
        assert code == 0, err
        user = sim.graph.user_by_mail("slow@fabrikam.com")
        assert user["id"] in sim.graph.members_of(PARTNERS)
        assert "replication lag" in err and "retrying in" in err and "added after" in out
        assert sim.graph.member_add_attempts[(PARTNERS, user["id"])] > 1


def test_a_refused_group_exits_1_and_says_why(tenant: Simulator) -> None:
    code, out, _ = invite("someone@fabrikam.com", "--group", FINANCE, "--group", PARTNERS)
    assert code == 1
    assert "FAILED: 403 Authorization_RequestDenied" in out and f"{PARTNERS}: added" in out


def test_bad_arguments_exit_2_before_any_graph_call(tenant: Simulator) -> None:
    code, _, err = invite("not an address", "--group", "nope", "--redirect-url", "http://x.example")
    assert code == 2
    assert "EMAIL:" in err and "--group 'nope'" in err and "--redirect-url" in err
    assert graph_calls(tenant) == 0


def test_a_group_outside_the_allowed_list_is_refused_before_any_graph_call(sim: Simulator, monkeypatch) -> None:
    configure(sim, monkeypatch, ALLOWED_GROUP_IDS=PARTNERS)
    code, _, err = invite("x@fabrikam.com", "--group", FALCON)
    assert code == 2 and "ALLOWED_GROUP_IDS" in err and "--group[0]" in err
    assert graph_calls(sim) == 0 and sim.stats.count(service="login") == 0


def test_graph_refusing_the_person_exits_3(tenant: Simulator) -> None:
    code, _, err = invite(f"someone@{tenant.tenant_domain}")  # a verified domain of the tenant itself
    assert code == 3 and "error:" in err and "Graph:" in err
