"""Issue 19 across instances: two app processes (``python -m devhost``, each its own worker) sharing one Azurite,
as two Flex Consumption instances share nothing but the storage account.

- Six racing HTTP requests, three per process: one invitation POST, one email (the simulator would email every
  repeat), every answer the same userId.
- A holder killed between its claim and the invitation: the next request waits for the claim to expire
  (INVITE_CLAIM_SECONDS is short here), takes it over, looks the person up and invites, once."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from azure.data.tables import TableServiceClient

from shared.claims import PENDING, TABLE, claim_key
from simulator import Simulator
from tests.claims.conftest import INVITE_POST, invitation_posts

pytestmark = pytest.mark.azurite

ROOT = Path(__file__).resolve().parents[2]
KEY = "race-key"


class Host:
    def __init__(self, process: subprocess.Popen, url: str) -> None:
        self.process = process
        self.url = url

    def invite(self, body: dict) -> requests.Response:
        return requests.post(self.url, params={"code": KEY}, json=body, timeout=90)


def start_host(sim: Simulator, azurite: str, folder: Path, **extra: str) -> Host:
    app = sim.identity.default_app
    values = {"AzureWebJobsStorage": azurite, "AZURE_TENANT_ID": sim.tenant_id, "AZURE_CLIENT_ID": app.client_id,
              "AZURE_CLIENT_SECRET": app.secret, "AZURE_AUTHORITY_HOST": sim.authority_host,
              "GRAPH_ENDPOINT": sim.graph_endpoint, "REQUESTS_CA_BUNDLE": str(sim.ca_path),
              "ALLOWED_GROUP_IDS": "*", **extra}
    folder.mkdir()
    (folder / "local.settings.json").write_text(json.dumps({"Values": values}), encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if k not in values}
    process = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments)
        [sys.executable, "-u", "-m", "devhost", "--settings", str(folder / "local.settings.json"), "--port", "0",
         "--key", KEY], cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if line.startswith("ready"):
            break
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # keep the pipe drained
    url = next((m.group(1) for m in map(re.compile(r"invite: POST (\S+)").search, lines) if m), None)
    assert url, "".join(lines)
    return Host(process, url)


@pytest.fixture
def hosts(sim: Simulator, azurite: str, tmp_path: Path) -> Iterator[list[Host]]:
    TableServiceClient.from_connection_string(azurite).delete_table(TABLE)
    sim.graph.repeat_invitation_email = "always"
    started: list[Host] = []
    yield started
    for host in started:
        if host.process.poll() is None:
            host.process.terminate()
            host.process.wait(timeout=30)


def test_six_requests_across_two_processes_send_one_invitation(sim: Simulator, azurite: str, tmp_path: Path,
                                                               hosts: list[Host]) -> None:
    hosts += [start_host(sim, azurite, tmp_path / "one"), start_host(sim, azurite, tmp_path / "two")]
    sim.faults.add(service="graph", method="POST", path=INVITE_POST, latency=1.5)
    email = "two.instances@fabrikam.com"
    start = threading.Barrier(6, timeout=30)
    answers: list[tuple[int, dict]] = []

    def call(host: Host) -> None:
        start.wait()
        response = host.invite({"email": email})
        answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=call, args=(hosts[i % 2],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert invitation_posts(sim) == 1
    assert sim.graph.emails_by_address().get(email) == 1
    user_id = sim.graph.user_by_mail(email)["id"]
    assert sorted(status for status, _ in answers) == [200, 200, 200, 200, 200, 201], answers
    assert {body["userId"] for _, body in answers} == {user_id}


def test_a_holder_killed_between_claim_and_invitation_leaves_the_next_request_to_proceed_after_the_expiry(
        sim: Simulator, azurite: str, tmp_path: Path, hosts: list[Host]) -> None:
    expiry = "4"
    hosts += [start_host(sim, azurite, tmp_path / "doomed", INVITE_CLAIM_SECONDS=expiry),
              start_host(sim, azurite, tmp_path / "next", INVITE_CLAIM_SECONDS=expiry)]
    doomed, survivor = hosts
    email = "crashed.holder@fabrikam.com"
    # The doomed holder's POST never reaches Graph's effect: the connection is held, then dropped unanswered.
    sim.faults.add(service="graph", method="POST", path=INVITE_POST, latency=20, drop=True, times=1)
    threading.Thread(target=lambda: _ignore_errors(doomed.invite, {"email": email}), daemon=True).start()
    table = TableServiceClient.from_connection_string(azurite).get_table_client(TABLE)
    deadline = time.monotonic() + 30
    while (claim := _entity(table, claim_key(email))) is None or claim["State"] != PENDING:
        assert time.monotonic() < deadline, "the doomed holder never claimed the address"
        time.sleep(0.05)
    claimed_at = time.monotonic()
    doomed.process.send_signal(signal.SIGKILL)  # between its claim and any invitation Graph applied
    doomed.process.wait(timeout=30)

    answer = survivor.invite({"email": email})

    assert answer.status_code == 201, answer.text
    waited = time.monotonic() - claimed_at
    assert int(expiry) - 1 <= waited < int(expiry) + 8  # it waited for the claim to expire, and not for ever
    assert answer.json()["userId"] == sim.graph.user_by_mail(email)["id"]
    assert len(sim.graph.invitations) == 1  # the doomed POST was never applied; the survivor's was
    assert sim.graph.emails_by_address().get(email) == 1
    assert _entity(table, claim_key(email))["UserId"] == answer.json()["userId"]


def _entity(table, key: str) -> dict | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return table.get_entity(key, "invitation")
    except ResourceNotFoundError:
        return None


def _ignore_errors(call, *args) -> None:
    with contextlib.suppress(requests.RequestException):  # its host is killed mid-request
        call(*args)
