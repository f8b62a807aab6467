"""The doctor against the simulated tenant and Azurite: ``tenant.configure(mode)`` sets the app's environment for
one credential mode (msal secret, system- or user-assigned managed identity), with the contract's queues created
in Azurite and the runtime and the health cache reset."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueServiceClient

from guest_cli import main
from shared import runtime
from shared.storage_checks import QUEUES, SHAREPOINT_QUEUE
from simulator import Simulator
from simulator.graph.models import FALCON_GROUP_ID, PARTNERS_GROUP_ID
from tests.tenant_settings import point_app_at

ALLOWED = f"{PARTNERS_GROUP_ID},{FALCON_GROUP_ID}"


class Tenant:
    def __init__(self, sim: Simulator, azurite: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sim = sim
        self.azurite = azurite
        self.monkeypatch = monkeypatch
        self.queues = QueueServiceClient.from_connection_string(azurite)
        self.principal: Any = None

    def configure(self, mode: str = "secret", **settings: str | None) -> Tenant:
        """Environment for 'secret' (default_app), 'system' or 'user' (managed identities); None unsets."""
        storage = ("AzureWebJobsStorage__accountName", "AzureWebJobsStorage__queueServiceUri",
                   "AzureWebJobsStorage__tableServiceUri", "AzureWebJobsStorage__credential",
                   "AzureWebJobsStorage__clientId")
        point_app_at(self.sim, self.monkeypatch, mode, clear=storage,
                     **{"ALLOWED_GROUP_IDS": ALLOWED, "AzureWebJobsStorage": self.azurite, **settings})
        principals = {"secret": self.sim.identity.default_app, "user": self.sim.identity.user_identity,
                      "system": self.sim.identity.system_identity}
        self.principal = principals[mode]
        return self

    def create_queues(self, *names: str) -> None:
        for name in names or (*QUEUES, SHAREPOINT_QUEUE):
            with contextlib.suppress(ResourceExistsError):
                self.queues.create_queue(name)

    def doctor(self, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
        """``python cli.py doctor --json`` in process: exit code, the report, stderr."""
        code = main(["doctor", "--json", "--no-settings-file", *args])
        captured = capsys.readouterr()
        return code, json.loads(captured.out), captured.err


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


def failing(report: dict[str, Any]) -> set[str]:
    return {check["name"] for check in report["checks"] if check["status"] in ("missing", "error")}


@pytest.fixture
def tenant(trust_sim: Simulator, azurite: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tenant]:
    tenant = Tenant(trust_sim, azurite, monkeypatch)
    tenant.create_queues()
    tenant.queues.get_queue_client("guest-invitations-poison").clear_messages()  # evidence from other tests
    yield tenant
    runtime.reset()
