"""``python -m devhost`` as README runs it: local.settings.json's Values (an already-set variable wins, as Core Tools
does), the HTTP functions with a function key, and the queue trigger on Azurite, so an invitation over HTTP ends with
the guest in the group."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueServiceClient

from devhost.__main__ import load_settings
from simulator import Simulator
from simulator.graph.models import PARTNERS_GROUP_ID

ROOT = Path(__file__).resolve().parents[2]


def test_values_fill_the_environment_but_a_set_variable_wins(tmp_path: Path, monkeypatch, capsys) -> None:
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"Values": {"DEVHOST_A": "from-file", "DEVHOST_B": "from-file",
                                               "DEVHOST_C": "from-file"}}), encoding="utf-8")
    monkeypatch.setenv("DEVHOST_A", "from-shell")
    monkeypatch.setenv("DEVHOST_B", "")  # empty counts as unset, as in Core Tools
    monkeypatch.delenv("DEVHOST_C", raising=False)

    applied = load_settings(settings)

    assert sorted(applied) == ["DEVHOST_B", "DEVHOST_C"]
    assert (os.environ["DEVHOST_A"], os.environ["DEVHOST_B"], os.environ["DEVHOST_C"]) == (
        "from-shell", "from-file", "from-file")
    assert "Skipping 'DEVHOST_A' from local settings" in capsys.readouterr().out
    for name in applied:
        monkeypatch.delenv(name)


@pytest.mark.azurite
def test_an_invitation_over_http_lands_the_membership_through_the_queue(sim: Simulator, azurite: str,
                                                                         tmp_path: Path) -> None:
    queue = QueueServiceClient.from_connection_string(azurite).get_queue_client("group-memberships")
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    queue.clear_messages()
    app = sim.identity.default_app
    values = {"AzureWebJobsStorage": azurite, "AZURE_TENANT_ID": sim.tenant_id, "AZURE_CLIENT_ID": app.client_id,
              "AZURE_CLIENT_SECRET": app.secret, "AZURE_AUTHORITY_HOST": sim.authority_host,
              "GRAPH_ENDPOINT": sim.graph_endpoint, "REQUESTS_CA_BUNDLE": str(sim.ca_path),
              "ALLOWED_GROUP_IDS": PARTNERS_GROUP_ID}
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": values}), encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if k not in values}  # the file's values, not the shell's
    host = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments)
        [sys.executable, "-u", "-m", "devhost", "--settings", str(tmp_path / "local.settings.json"), "--port", "0",
         "--key", "test-key"], cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        assert host.stdout is not None
        for line in host.stdout:
            lines.append(line)
            if line.startswith("ready"):
                break
        url = next(m.group(1) for m in map(re.compile(r"invite: POST (\S+)").search, lines) if m)
        assert requests.post(url, json={"email": "ines@fabrikam.com"}, timeout=30).status_code == 401

        answer = requests.post(url, params={"code": "test-key"}, timeout=30,
                               json={"email": "ines@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})

        assert answer.status_code == 201, answer.text
        deadline = time.monotonic() + 30
        while answer.json()["userId"] not in sim.graph.members_of(PARTNERS_GROUP_ID):
            assert time.monotonic() < deadline, "the membership did not land within 30 s"
            time.sleep(0.2)
    finally:
        host.terminate()
        host.wait(timeout=30)
