"""`cli.py invite` writes the status record every door writes (issue 14, source "cli"), when the app's storage is
configured (AzureWebJobsStorage: a real Azurite here), so `cli.py status <requestId>` tells it group by group; without
storage, or when it fails, one line on stderr says so and the invite runs with Graph only, its exit code unchanged."""

from __future__ import annotations

import argparse
import io
import json
import re
import socket
from types import SimpleNamespace

import pytest

from guest_cli import build_parser
from guest_cli.status import run_status
from shared import status
from shared.grants import grant_store
from shared.storage import failure_text
from simulator import Simulator
from simulator.graph import models

PARTNERS, FALCON, FINANCE = models.PARTNERS_GROUP_ID, models.FALCON_GROUP_ID, models.FINANCE_GROUP_ID
STORAGE_SETTINGS = ("AzureWebJobsStorage", "AzureWebJobsStorage__accountName", "AzureWebJobsStorage__queueServiceUri",
                    "AzureWebJobsStorage__tableServiceUri", "AzureWebJobsStorage__credential",
                    "AzureWebJobsStorage__clientId")


def invite(*argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["invite", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = args.handler(args, out, err)
    return code, out.getvalue(), err.getvalue()


def request_id_in(out: str) -> str:
    found = re.search(r"^  request id  (\S+)$", out, re.MULTILINE)
    assert found, out
    return found.group(1)


def cli_status(azurite: str, request_id: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_status(argparse.Namespace(request_id=request_id, connection_string=azurite, json=False), out, err)
    return code, out.getvalue() + err.getvalue()


def no_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in STORAGE_SETTINGS:
        monkeypatch.delenv(name, raising=False)


def unused_port() -> int:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def store(tenant: Simulator, azurite: str, monkeypatch: pytest.MonkeyPatch) -> status.StatusStore:
    """The simulated tenant, with Azurite as the app's storage account, as an operator's environment gives the CLI."""
    from azure.data.tables import TableServiceClient

    no_storage(monkeypatch)
    monkeypatch.setenv("AzureWebJobsStorage", azurite)
    return status.StatusStore(TableServiceClient.from_connection_string(azurite).get_table_client(status.TABLE))


def test_with_storage_cli_status_shows_each_group_added(store, tenant: Simulator, azurite: str) -> None:
    code, out, err = invite("new.person@fabrikam.com", "--group", PARTNERS, "--group", FALCON, "--no-email")
    assert code == 0, out + err
    assert "Status record" not in out + err  # said only when there is none
    request_id = request_id_in(out)
    user = tenant.graph.user_by_mail("new.person@fabrikam.com")

    record = store.read(request_id)
    assert record is not None and record.source == "cli" and record.status == "succeeded"
    assert record.email == "new.person@fabrikam.com" and record.user_id == user["id"] and record.invited is True
    assert {group.group_id: group.status for group in record.groups} == {PARTNERS: "added", FALCON: "added"}
    adds = tenant.graph.member_add_attempts
    assert all(group.attempts == adds[(group.group_id, user["id"])] >= 1 for group in record.groups)

    code, shown = cli_status(azurite, request_id)
    assert code == 0, shown
    assert f"request  {request_id}  (cli, accepted " in shown and "status   succeeded" in shown
    assert f"{PARTNERS}  added" in shown and f"{FALCON}  added" in shown


def test_already_a_member_is_recorded_as_success(store, tenant: Simulator) -> None:
    code, out, err = invite(models.ACCEPTED_GUEST_MAIL, "--group", PARTNERS)
    assert code == 0, out + err
    record = store.read(request_id_in(out))
    assert record is not None and record.invited is False and record.status == "succeeded"
    assert [(group.group_id, group.status) for group in record.groups] == [(PARTNERS, "already_member")]


def test_without_groups_the_request_still_has_its_record(store) -> None:
    code, out, err = invite("solo@fabrikam.com", "--no-email")
    assert code == 0, out + err
    record = store.read(request_id_in(out))
    assert record is not None and record.source == "cli" and record.groups == [] and record.status == "succeeded"


def test_a_group_that_forbids_guests_is_failed_in_the_record_with_graphs_reason(store, tenant: Simulator,
                                                                               azurite: str) -> None:
    code, out, err = invite("blocked@fabrikam.com", "--group", FINANCE, "--group", PARTNERS, "--no-email")
    assert code == 1, out + err
    request_id = request_id_in(out)
    record = store.read(request_id)
    assert record is not None and record.status == "failed"
    groups = {group.group_id: group for group in record.groups}
    assert groups[PARTNERS].status == "added" and groups[PARTNERS].problem is None
    finance = groups[FINANCE]
    assert finance.status == "failed" and finance.attempts == 1
    problem = finance.problem
    assert problem is not None
    assert (problem["status"], problem["code"]) == (403, "Authorization_RequestDenied")
    assert "not allowed to join" in problem["message"]  # Graph's own words (cloud-facts: group policy)
    assert problem["type"].endswith(":graph-refused") and problem["graphRequestId"]

    code, shown = cli_status(azurite, request_id)
    assert code == 1 and "status   failed" in shown
    assert f"403 Authorization_RequestDenied: {problem['message']}" in shown


def test_json_says_whether_the_record_was_written(store, tenant: Simulator) -> None:
    code, out, err = invite("json.person@fabrikam.com", "--group", PARTNERS, "--no-email", "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["statusRecord"] is True and store.read(answer["requestId"]) is not None


def test_an_end_of_access_is_in_the_record_and_the_apps_grant_events_reach_it(store, tenant: Simulator) -> None:
    code, out, err = invite("ending@fabrikam.com", "--group", PARTNERS, "--access-days", "30", "--no-email")
    assert code == 0, out + err
    request_id = request_id_in(out)
    record = store.read(request_id)
    assert record is not None and record.groups[0].until  # written with the acceptance
    grant = grant_store().for_request(request_id)[0]
    assert grant.source == "cli"
    # What function_app.py registers for the app's expiry and revokes: a cli grant now reaches its record.
    status.record_grant_event("revoked", grant)
    group = store.read(request_id).groups[0]
    assert group.access_ended_at and group.access_end_reason == "revoked"


def test_without_storage_one_line_says_so_and_the_exit_code_is_as_before(tenant: Simulator, monkeypatch) -> None:
    no_storage(monkeypatch)
    code, out, err = invite("nostore@fabrikam.com", "--group", PARTNERS, "--no-email")
    assert code == 0, out + err
    request_id = request_id_in(out)
    assert err.count("Status record:") == 1
    assert f"Status record: none (AzureWebJobsStorage is not set); `cli.py status {request_id}` will not find" in err
    assert "Status record" not in out
    user = tenant.graph.user_by_mail("nostore@fabrikam.com")
    assert user["id"] in tenant.graph.members_of(PARTNERS)

    code, out, err = invite("nostore2@fabrikam.com", "--group", FINANCE, "--no-email", "--json")
    assert code == 1 and err.count("Status record:") == 1
    assert json.loads(out)["statusRecord"] is False


def test_an_unreachable_storage_account_is_one_line_without_its_key(tenant: Simulator, monkeypatch) -> None:
    no_storage(monkeypatch)
    key = "c2VjcmV0LWtleS1ub3Qtc2hvd24="
    monkeypatch.setenv("AzureWebJobsStorage", f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                                              f"AccountKey={key};TableEndpoint=http://127.0.0.1:{unused_port()}/"
                                              "devstoreaccount1;")
    # An existing guest: no invitation claim is needed (a new one's claim would fail closed first: shared/claims.py).
    code, out, err = invite(models.ACCEPTED_GUEST_MAIL, "--group", PARTNERS, "--group", FALCON)
    assert code == 0, out + err
    assert err.count("Status record:") == 1
    assert "Status record: not written (the app's storage account, AzureWebJobsStorage, failed: " in err
    assert key not in out + err and "AccountKey" not in out + err
    assert "already a member" in out and f"{FALCON}: added" in out  # the invite itself went on


def test_a_storage_failure_after_the_acceptance_is_said_once_and_stops_the_writes(store, monkeypatch) -> None:
    """The account goes away after the record was accepted: the first group's write fails, is said once, and no
    later write is tried (each would wait out the storage client's retries again); the record keeps what it had."""
    from guest_cli.invite_record import InviteRecord
    from shared import app_context

    admitted = SimpleNamespace(request_id="cli-gone", until=None,
                               request=SimpleNamespace(email="gone@fabrikam.com", group_ids=(PARTNERS, FALCON)),
                               person=SimpleNamespace(user_id=models.MEMBER_USER_ID, invited=False))
    err = io.StringIO()
    record = InviteRecord.accept(app_context.current(), admitted, err)
    assert record.written and err.getvalue() == ""
    key = "Z29uZS1rZXktbm90LXNob3du"
    monkeypatch.setenv("AzureWebJobsStorage", f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                                              f"AccountKey={key};TableEndpoint=http://127.0.0.1:{unused_port()}/"
                                              "devstoreaccount1;")
    record.group(PARTNERS, "added", 1)
    record.group(FALCON, "added", 1)
    text = err.getvalue()
    assert text.count("Status record:") == 1 and text.startswith("Status record: incomplete (the app's storage "
                                                                  "account, AzureWebJobsStorage, failed: ")
    assert f"may show group {PARTNERS} and later ones still queued" in text and key not in text
    assert [group.status for group in store.read("cli-gone").groups] == ["queued", "queued"]


def test_a_failure_text_masks_a_key_or_signature() -> None:
    error = ValueError("bad: AccountKey=abc/def==;SharedAccessSignature=sv=1&sig=xyz%3D and more\nsecond line")
    text = failure_text(error)
    assert text.startswith("ValueError: bad: ") and "abc" not in text and "xyz" not in text
    assert "second line" not in text and len(failure_text(ValueError("x" * 5000))) < 300


def test_ctrl_c_during_the_adds_fails_the_groups_not_done_instead_of_leaving_them_queued(store, monkeypatch) -> None:
    """No worker will ever try a `cli.py invite` group: interrupted, the record says so rather than staying pending
    for its 30 days. The real command in a subprocess, interrupted (SIGINT) while it waits out replication lag."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from tests.bulk.conftest import configure

    root = Path(__file__).resolve().parents[2]
    with Simulator(replication_lag=600.0) as sim:  # the new guest stays invisible: the add waits
        configure(sim, monkeypatch)
        process = subprocess.Popen([sys.executable, "cli.py", "invite", "waiting@fabrikam.com", "--group", PARTNERS,  # noqa: S603
                                    "--group", FALCON, "--no-email"], cwd=root, env=dict(os.environ),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while sim.graph.member_add_attempts.get((PARTNERS, _user_id(sim, "waiting@fabrikam.com"))) is None:
                assert time.monotonic() < deadline and process.poll() is None, "the command never tried the add"
                time.sleep(0.1)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 130, err
        request_id = request_id_in(out)
        record = store.read(request_id)
        assert record is not None and record.source == "cli" and record.status == "failed"
        assert all(group.status == "failed" and group.problem["code"] == "Interrupted" for group in record.groups)
        assert {group.group_id for group in record.groups} == {PARTNERS, FALCON}


def _user_id(sim: Simulator, email: str) -> str | None:
    user = sim.graph.user_by_mail(email)
    return user["id"] if user else None

