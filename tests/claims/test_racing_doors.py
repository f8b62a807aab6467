"""Issue 19: six requests for one new address, one through each door at the same moment (two HTTP calls through
the host's HTTP server, a guest-invitations message through the queue runner, a SharePoint row through the
webhook and the items worker, the CLI's invite, a bulk row), all in one app process on the real worker with
Azurite: one invitation POST, one email although the simulator would email every repeat, one userId for all.

The simulator holds each invitation POST for a while, so every caller misses the lookup and meets the claim."""

from __future__ import annotations

import csv
import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from guest_cli import build_parser
from guest_cli.bulk.command import BulkOptions, run_bulk
from guest_cli.invite import run_invite
from simulator.graph.models import PARTNERS_GROUP_ID
from tests.claims.conftest import INVITE_POST, invitation_posts

pytestmark = pytest.mark.azurite

EMAIL = "racing.partner@fabrikam.com"


def _subscribed(doors) -> None:
    doors.provision()
    code, output = doors.cli("sharepoint", "subscribe")
    assert code == 0, output


def test_six_doors_racing_for_one_address_send_one_invitation_and_answer_one_user_id(doors, tmp_path: Path):
    _subscribed(doors)
    sim = doors.sim
    sim.faults.add(service="graph", method="POST", path=INVITE_POST, latency=1.5)  # the holder takes its time
    body = {"email": EMAIL, "groupIds": [PARTNERS_GROUP_ID]}
    bulk_csv = tmp_path / "guests.csv"
    bulk_csv.write_text(f"email\n{EMAIL}\n", encoding="utf-8")
    results = tmp_path / "results.csv"
    start = threading.Barrier(6, timeout=30)
    answers: dict[str, Any] = {}
    failures: list[BaseException] = []

    def http(name: str) -> None:
        start.wait()
        response = requests.post(doors.host.url("invitations"), json=body, timeout=60, verify=str(sim.ca_path))
        answers[name] = (response.status_code, response.json().get("userId"))

    def queue() -> None:
        doors.queues.send("guest-invitations", json.dumps(body))
        start.wait()
        invocations = doors.queues.run_once("invite_from_queue")
        outputs = [json.loads(m) for i in invocations for m in i.outputs.get("group-memberships", [])]
        answers["queue"] = ([i.error for i in invocations], [m["userId"] for m in outputs])

    def sharepoint() -> None:
        item = doors.add_row(Email=EMAIL, GroupIds=PARTNERS_GROUP_ID)
        start.wait()
        doors.sim.sharepoint.notifier.wait_idle()
        doors.queues.run_until_empty("sharepoint_changes")
        answers["sharepoint"] = (doors.row(item)["Status"], doors.row(item)["InvitedUserId"])

    def cli() -> None:
        args = build_parser().parse_args(["invite", EMAIL])  # the command line's own defaults
        out, err = io.StringIO(), io.StringIO()
        start.wait()
        code = run_invite(args, out, err)
        user_id = next((line.split()[-1] for line in out.getvalue().splitlines() if "user id" in line), None)
        answers["cli"] = (code, user_id, err.getvalue())

    def bulk() -> None:
        out, err = io.StringIO(), io.StringIO()
        start.wait()
        code = run_bulk(bulk_csv, BulkOptions(concurrency=1, results=str(results), tty=False), out, err)
        with results.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        answers["bulk"] = (code, [row["userId"] for row in rows], err.getvalue())

    def guarded(target, *args) -> None:
        try:
            target(*args)
        except BaseException as error:  # reported below: a thread's assertion must fail the test
            failures.append(error)

    threads = [threading.Thread(target=guarded, args=(http, "http-1")),
               threading.Thread(target=guarded, args=(http, "http-2")),
               threading.Thread(target=guarded, args=(queue,)), threading.Thread(target=guarded, args=(sharepoint,)),
               threading.Thread(target=guarded, args=(cli,)), threading.Thread(target=guarded, args=(bulk,))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert invitation_posts(sim) == 1
    assert sim.graph.emails_by_address().get(EMAIL) == 1
    user_id = sim.graph.user_by_mail(EMAIL)["id"]
    statuses = [answers["http-1"][0], answers["http-2"][0]]
    assert set(statuses) <= {200, 201} and statuses.count(201) <= 1  # 201 only for the door that invited
    assert answers["http-1"][1] == answers["http-2"][1] == user_id
    assert answers["queue"] == ([None], [user_id])
    assert answers["sharepoint"] == ("Invited", user_id) or answers["sharepoint"] == ("Added", user_id)
    assert answers["cli"][:2] == (0, user_id), answers["cli"]
    assert answers["bulk"][0] == 0 and answers["bulk"][1] == [user_id], answers["bulk"]
