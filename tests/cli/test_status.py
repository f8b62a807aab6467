"""``cli.py status REQUEST_ID``: an invitation's status record as an operator reads it."""

from __future__ import annotations

import argparse
import io

import pytest

from guest_cli import build_parser
from guest_cli.status import run_status
from shared import status
from simulator.graph.models import FINANCE_GROUP_ID, MEMBER_USER_ID, PARTNERS_GROUP_ID


@pytest.fixture
def store(azurite: str):
    from azure.data.tables import TableServiceClient

    return status.StatusStore(TableServiceClient.from_connection_string(azurite).get_table_client(status.TABLE))


def run(azurite: str, request_id: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(request_id=request_id, connection_string=azurite)
    return run_status(args, out, err), out.getvalue(), err.getvalue()


def test_the_parser_knows_the_command():
    args = build_parser().parse_args(["status", "crm-1"])
    assert args.request_id == "crm-1" and args.handler is run_status


def test_a_finished_request_prints_each_group_and_exits_0(azurite, store):
    store.accepted("cli-done", email="nia@fabrikam.com", user_id=MEMBER_USER_ID, invited=True, source="http",
                   group_ids=[PARTNERS_GROUP_ID])
    store.group("cli-done", PARTNERS_GROUP_ID, status.ADDED, 2)
    code, out, _ = run(azurite, "cli-done")
    assert code == 0
    assert "status   succeeded" in out and f"{PARTNERS_GROUP_ID}  added" in out and "attempts 2" in out


def test_a_failed_group_prints_graphs_reason_and_exits_1(azurite, store):
    store.accepted("cli-failed", email=None, user_id=MEMBER_USER_ID, invited=False, source="queue",
                   group_ids=[FINANCE_GROUP_ID])
    store.group("cli-failed", FINANCE_GROUP_ID, status.FAILED, 1,
                problem={"type": "urn:guest-onboarding:problem:graph-refused", "status": 403,
                         "code": "Authorization_RequestDenied", "graphRequestId": "g-1",
                         "message": "Guest users are not allowed to join this group."})
    code, out, _ = run(azurite, "cli-failed")
    assert code == 1 and "status   failed" in out
    assert "403 Authorization_RequestDenied: Guest users are not allowed" in out and "g-1" in out


def test_a_queued_group_exits_1(azurite, store):
    store.accepted("cli-pending", email=None, user_id=MEMBER_USER_ID, invited=False, source="http",
                   group_ids=[PARTNERS_GROUP_ID])
    code, out, _ = run(azurite, "cli-pending")
    assert code == 1 and "status   pending" in out and "queued" in out


def test_an_unknown_or_malformed_id_exits_2(azurite):
    assert run(azurite, "cli-never")[0] == 2
    code, _, err = run(azurite, "a/b" * 100)
    assert code == 2 and "REQUEST_ID" in err and len(err) < 200


def test_an_unreachable_storage_account_exits_3():
    unreachable = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlm"
                   "EtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
                   "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;")
    assert run(unreachable, "cli-x")[0] == 3
