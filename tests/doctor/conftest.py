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
from shared import health, runtime
from shared.storage_checks import QUEUES, SHAREPOINT_QUEUE
from simulator import Simulator
from simulator.graph.models import FALCON_GROUP_ID, PARTNERS_GROUP_ID

APP_SETTINGS = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                "AZURE_CLIENT_CERTIFICATE_PASSWORD", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT",
                "MSI_SECRET", "AZURE_AUTHORITY_HOST", "GRAPH_ENDPOINT", "INVITE_REDIRECT_URL", "ALLOWED_GROUP_IDS",
                "ALLOWED_EMAIL_DOMAINS", "BLOCKED_EMAIL_DOMAINS", "LOG_PII", "AzureWebJobsStorage",
                "AzureWebJobsStorage__accountName", "AzureWebJobsStorage__queueServiceUri",
                "AzureWebJobsStorage__tableServiceUri", "AzureWebJobsStorage__credential",
                "AzureWebJobsStorage__clientId", "SHAREPOINT_SITE_URL", "SHAREPOINT_LIST_ID",
                "SHAREPOINT_CLIENT_STATE", "SHAREPOINT_NOTIFICATION_URL")
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
        for name in APP_SETTINGS:
            self.monkeypatch.delenv(name, raising=False)
        sim = self.sim
        env: dict[str, str | None] = {"AZURE_AUTHORITY_HOST": sim.authority_host, "GRAPH_ENDPOINT": sim.graph_endpoint,
                                      "ALLOWED_GROUP_IDS": ALLOWED, "AzureWebJobsStorage": self.azurite}
        if mode == "secret":
            self.principal = sim.identity.default_app
            env |= {"AZURE_TENANT_ID": sim.tenant_id, "AZURE_CLIENT_ID": self.principal.client_id,
                    "AZURE_CLIENT_SECRET": self.principal.secret}
        else:
            env |= {"IDENTITY_ENDPOINT": sim.identity_endpoint, "IDENTITY_HEADER": sim.identity_header}
            self.principal = sim.identity.user_identity if mode == "user" else sim.identity.system_identity
            if mode == "user":
                env["AZURE_CLIENT_ID"] = self.principal.client_id
        for name, value in (env | settings).items():
            if value is None:
                self.monkeypatch.delenv(name, raising=False)
            else:
                self.monkeypatch.setenv(name, value)
        runtime.reset()
        health.reset_cache()
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
    health.reset_cache()
