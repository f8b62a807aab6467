"""A bulk row's status record (issue 14): `cli.py bulk` against the simulated tenant with a real Azurite as the app's
storage, then each row looked up by its requestId as `cli.py status` and the status store read it."""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import socket
import uuid
from pathlib import Path

import pytest

from guest_cli.bulk.command import BulkOptions, run_bulk
from guest_cli.bulk.results import COLUMNS, LEGACY_COLUMNS
from guest_cli.status import run_status
from shared import status
from simulator import Simulator
from simulator.graph import models

PARTNERS, FALCON, FINANCE = models.PARTNERS_GROUP_ID, models.FALCON_GROUP_ID, models.FINANCE_GROUP_ID
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture
def store(tenant: Simulator, azurite: str, monkeypatch: pytest.MonkeyPatch) -> status.StatusStore:
    """The simulated tenant, with Azurite as the app's storage account (AzureWebJobsStorage), as an operator's
    environment would give the CLI."""
    from azure.data.tables import TableServiceClient

    monkeypatch.setenv("AzureWebJobsStorage", azurite)
    return status.StatusStore(TableServiceClient.from_connection_string(azurite).get_table_client(status.TABLE))


def bulk(path: Path, **options) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    options.setdefault("results", str(path.with_suffix(".out.csv")))
    options.setdefault("tty", False)
    code = run_bulk(path, BulkOptions(**options), out, err)
    return code, out.getvalue(), err.getvalue()


def results_of(path: Path) -> list[dict[str, str]]:
    with path.with_suffix(".out.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def plain_file(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    path = tmp_path / "people.csv"
    path.write_text("email,groupIds\n" + "".join(f"{email},{groups}\n" for email, groups in rows), encoding="utf-8")
    return path


def cli_status(azurite: str, request_id: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(request_id=request_id, connection_string=azurite, json=False)
    code = run_status(args, out, err)
    return code, out.getvalue() + err.getvalue()


def test_each_row_has_a_record_with_every_group_as_the_run_settled_it(store, tenant: Simulator, azurite,
                                                                      tmp_path) -> None:
    member = f"megan@{tenant.tenant_domain}"
    both = f"{PARTNERS};{FALCON}"
    path = plain_file(tmp_path, [("new.person@fabrikam.com", both), (models.ACCEPTED_GUEST_MAIL, both),
                                 (member, both)])
    code, out, err = bulk(path)
    assert code == 0, out + err
    rows = results_of(path)
    assert tuple(rows[0]) == COLUMNS and all(UUID.match(row["requestId"]) for row in rows)
    assert len({row["requestId"] for row in rows}) == 3
    for row in rows:
        record = store.read(row["requestId"])
        assert record is not None and record.source == "bulk" and record.status == "succeeded"
        assert record.email == row["email"] and record.user_id == row["userId"]
        assert record.invited == (row["invitation"] == "invited")
        in_file = dict(part.split("=") for part in row["groups"].split(";"))
        assert {group.group_id: group.status for group in record.groups} == {
            group: state.replace("-", "_") for group, state in in_file.items()}
        assert all(group.attempts >= 1 for group in record.groups)
        for group in (PARTNERS, FALCON):
            assert row["userId"] in tenant.graph.members_of(group)  # the record tells what Graph holds
        code, shown = cli_status(azurite, row["requestId"])
        assert code == 0 and "(bulk, accepted" in shown and "status   succeeded" in shown, shown
    # The member was in Falcon already; the new person was added to both.
    assert "already-member" in rows[2]["groups"] and "already-member" not in rows[0]["groups"]
    # One Create Table, one acceptance per row, one update per group: measured at the storage client.
    assert "Status records: 3 rows recorded (source bulk); 10 storage requests" in out
    assert f"python cli.py status {rows[0]['requestId']}" in out  # no row failed: the first row is the example


def test_a_group_that_forbids_guests_is_failed_in_the_record_with_graphs_reason(store, azurite, tmp_path) -> None:
    path = plain_file(tmp_path, [("a@fabrikam.com", f"{PARTNERS};{FINANCE}"), ("b@fabrikam.com", PARTNERS)])
    code, out, err = bulk(path, json=True)
    assert code == 1, out + err
    first, second = results_of(path)
    assert first["status"] == "failed" and second["status"] == "done"
    record = store.read(first["requestId"])
    assert record is not None and record.status == "failed"
    groups = {group.group_id: group for group in record.groups}
    assert groups[PARTNERS].status == status.ADDED and groups[FINANCE].status == status.FAILED
    problem = groups[FINANCE].problem
    assert problem is not None and problem["status"] == 403 and problem["code"] == "Authorization_RequestDenied"
    assert "not allowed to join" in problem["message"] and problem["type"].startswith("urn:guest-onboarding:problem:")
    code, shown = cli_status(azurite, first["requestId"])
    assert code == 1 and "status   failed" in shown and "403 Authorization_RequestDenied" in shown
    summary = json.loads(out)
    assert summary["statusRecords"] == {"written": True, "rows": 2, "storageRequests": 6, "writesNotDone": 0}
    assert f"python cli.py status {first['requestId']}" in err  # the failed row is the example (--json: stderr)


def test_a_resumed_row_keeps_its_first_request_id(store, tmp_path) -> None:
    path = plain_file(tmp_path, [("a@fabrikam.com", FINANCE), ("b@fabrikam.com", PARTNERS)])
    bulk(path)
    first = {row["email"]: row["requestId"] for row in results_of(path)}
    code, out, err = bulk(path)  # the refused row runs again, the done one is skipped
    assert code == 1 and "1 skipped" in out, out + err
    assert {row["email"]: row["requestId"] for row in results_of(path)} == first
    record = store.read(first["a@fabrikam.com"])
    assert record is not None and [(group.group_id, group.status) for group in record.groups] == [
        (FINANCE, status.FAILED)]


def test_a_results_file_of_the_previous_version_resumes_and_gets_the_column(store, tenant: Simulator,
                                                                            tmp_path) -> None:
    path = plain_file(tmp_path, [("done.before@fabrikam.com", PARTNERS), (models.ACCEPTED_GUEST_MAIL, FALCON)])
    results = path.with_suffix(".out.csv")
    with results.open("w", newline="", encoding="utf-8") as handle:  # as the version without requestId wrote it
        writer = csv.writer(handle)
        writer.writerow(LEGACY_COLUMNS)
        writer.writerow(["2", "done.before@fabrikam.com", "done", "invited", models.MEMBER_USER_ID, "",
                         f"{PARTNERS}=added", "", "2026-11-30T10:00:00Z"])
        writer.writerow(["3", models.ACCEPTED_GUEST_MAIL, "pending", "existing", models.ACCEPTED_GUEST_ID, "",
                         f"{FALCON}=pending", "", "2026-11-30T10:00:01Z"])
    code, out, err = bulk(path)
    assert code == 0 and "1 skipped" in out, out + err
    assert results.read_text(encoding="utf-8").splitlines()[0] == ",".join(COLUMNS)
    done_before, resumed = results_of(path)
    assert done_before["status"] == "done" and done_before["requestId"] == ""  # skipped: not run, no id
    assert resumed["status"] == "done" and resumed["userId"] == models.ACCEPTED_GUEST_ID
    assert UUID.match(resumed["requestId"])
    assert models.ACCEPTED_GUEST_ID in tenant.graph.members_of(FALCON)
    record = store.read(resumed["requestId"])
    assert record is not None and [(group.group_id, group.status) for group in record.groups] == [
        (FALCON, status.ADDED)]
    assert tenant.stats.count(service="graph", method="POST", path=r"/invitations$") == 0


def test_a_planted_request_id_of_another_request_is_not_written_to(store, tenant: Simulator, tmp_path) -> None:
    other_id = f"crm-{uuid.uuid4().hex[:12]}"  # Azurite lives for the session: an id no other test has used
    store.accepted(other_id, email="someone.else@contoso.com", user_id=models.MEMBER_USER_ID, invited=False,
                   source="http", group_ids=[PARTNERS])
    path = plain_file(tmp_path, [(models.ACCEPTED_GUEST_MAIL, FALCON)])
    results = path.with_suffix(".out.csv")
    with results.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerow(["2", models.ACCEPTED_GUEST_MAIL, "pending", "existing", models.ACCEPTED_GUEST_ID, "",
                         f"{FALCON}=pending", "", other_id, "2026-11-30T10:00:01Z"])
    code, out, err = bulk(path)
    assert code == 0, out + err
    [row] = results_of(path)
    assert UUID.match(row["requestId"])  # a new id: the planted one names an HTTP request of someone else
    other = store.read(other_id)
    assert other is not None and other.source == "http" and other.email == "someone.else@contoso.com"
    assert [(group.group_id, group.status) for group in other.groups] == [(PARTNERS, status.QUEUED)]


def test_without_storage_the_bulk_says_so_once_and_runs_with_graph_only(tenant: Simulator, monkeypatch,
                                                                       tmp_path) -> None:
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    path = plain_file(tmp_path, [("x@fabrikam.com", PARTNERS), ("y@fabrikam.com", PARTNERS)])
    code, out, err = bulk(path)
    assert code == 0, out + err
    assert err.count("Status records: none (AzureWebJobsStorage is not set)") == 1
    assert "Status records:" not in out and "cli.py status" not in out
    assert all(UUID.match(row["requestId"]) and row["status"] == "done" for row in results_of(path))


def test_an_unreachable_storage_account_is_said_once_without_its_key(tenant: Simulator, monkeypatch,
                                                                     tmp_path) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AzureWebJobsStorage", f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                                              f"AccountKey=a2V5;TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
    path = plain_file(tmp_path, [("z@fabrikam.com", PARTNERS)])
    code, out, err = bulk(path)
    # The run itself goes on and reports (its invitation claims need the same account: shared/claims.py, so the
    # row fails with that reason in the results file); the records are said to be missing, once.
    assert code in (0, 1) and "Results:" in out, out + err
    assert err.count("Status records: none (the storage account failed: ") == 1
    assert "a2V5" not in out + err  # never the key
    assert "Status records:" not in out


def test_a_storage_account_failing_mid_run_stops_the_writes_after_the_first_failure(tmp_path) -> None:
    """The first write that fails (after the storage client's own retries) stops the rest, so a dead account cannot
    slow the run; the summary counts what was not written."""
    from azure.data.tables import TableClient

    from guest_cli.bulk.status_records import RowStatus

    with socket.socket() as probe:  # a loopback port nothing listens on: the account went away
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    table = TableClient.from_connection_string(
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;", status.TABLE)
    records = RowStatus(status.StatusStore(table), writers=1)
    records.accepted("row-1", email="a@fabrikam.com", user_id=models.MEMBER_USER_ID, invited=False,
                     group_ids=[PARTNERS])
    for _ in range(5):
        records.group("row-1", PARTNERS, "added", 1)
    records.close()
    assert (records.rows, records.failed_writes, records.skipped_writes) == (0, 1, 5)
    assert "6 writes not done after the storage account failed (ServiceRequestError" in records.summary()
    assert "a2V5" not in records.summary()
