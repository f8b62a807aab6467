"""The app with its SharePoint settings against the simulated tenant, a real Azurite, and the local Functions host
(devhost: the real Python worker) on loopback HTTPS, so the simulator's webhook calls reach the real handler over the
wire and the queue functions run on Azurite's messages.

The app runs as a user-assigned managed identity holding the core's Graph permissions plus Sites.Selected, with
a 'write' grant on the Partners site: the least-privileged set docs/sharepoint.md recommends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from devhost import worker
from devhost.http_server import HttpServer
from devhost.queues import QueueRunner, QueueSettings
from guest_cli import main as cli_main
from shared import app_context
from simulator import Simulator
from tests.tenant_settings import apply, point_app_at

QUEUES = ("sharepoint-notifications", "group-memberships", "group-memberships-poison",
          "sharepoint-notifications-poison")
CLIENT_STATE = "client-state-0123456789abcdef"

class SharePointApp:
    def __init__(self, sim: Simulator, monkeypatch: pytest.MonkeyPatch, connection_string: str) -> None:
        self.sim = sim
        self.monkeypatch = monkeypatch
        self.worker = worker()
        # host.json's settings, except that a failed message is retried at once: the tests do not wait 2 minutes.
        settings = dataclasses.replace(QueueSettings.from_host_json(), visibility_timeout=0)
        self.queues = QueueRunner(connection_string, self.worker, settings=settings)
        self.queues.clear(*QUEUES)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sim.workdir / "tls" / "server.pem", sim.workdir / "tls" / "server.key")
        self.host = HttpServer(self.worker, send=self.queues.send, ssl_context=context)
        self.site = sim.sharepoint.sites["/sites/partners"]
        identity = sim.identity.user_identity
        sim.identity.grant(identity.client_id, "Sites.Selected")
        sim.sharepoint.grant(self.site, identity.client_id, ["write"], "Guest onboarding")
        # A put-back message (a wait, or a new guest's first delay) waits in simulated time: visible at once.
        self.timing = app_context.Timing(queue_delay=self._simulated_queue_delay, wall=sim.clock.now)
        point_app_at(sim, monkeypatch, "user", timing=self.timing, AzureWebJobsStorage=connection_string,
                     SHAREPOINT_SITE_URL=f"{sim.url('sharepoint')}/sites/partners",
                     SHAREPOINT_CLIENT_STATE=CLIENT_STATE,
                     SHAREPOINT_NOTIFICATION_URL=self.host.url("sharepoint/notifications"))

    def _simulated_queue_delay(self, seconds: float) -> float:
        self.sim.clock.advance(seconds)
        return 0.0

    def configure(self, **settings: str) -> None:
        apply(settings, self.monkeypatch)
        app_context.reset(timing=self.timing)

    def cli(self, *args: str) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli_main(list(args))
        return code, out.getvalue()

    def provision(self) -> str:
        code, output = self.cli("sharepoint", "provision")
        assert code == 0, output
        list_id = output.strip().splitlines()[-1].removeprefix("SHAREPOINT_LIST_ID=")
        self.configure(SHAREPOINT_LIST_ID=list_id)
        return list_id

    @property
    def sp_list(self) -> Any:
        return self.sim.sharepoint.lists[app_context.current().settings().sharepoint_list_id]

    def add_row(self, **fields: Any) -> str:
        """A row as an owner adds it in the browser (no app involved): the simulator notifies the webhook."""
        return self.sim.sharepoint.add_item(self.sp_list, fields).id

    def row(self, item_id: str) -> dict[str, Any]:
        return dict(self.sp_list.items[item_id].fields)

    def settle(self, rounds: int = 10) -> None:
        """Until nothing moves: the simulator's deliveries reach the webhook, the queue workers run."""
        notifier = self.sim.sharepoint.notifier
        for _ in range(rounds):
            notifier.wait_idle()
            ran = self.queues.run_until_empty("sharepoint_changes")
            ran += self.queues.run_until_empty("add_membership")
            notifier.wait_idle()
            if not ran and not self.queues.peek("sharepoint-notifications"):
                return
        raise AssertionError("the SharePoint flow did not settle")

    def close(self) -> None:
        self.host.close()


@pytest.fixture
def sp_app(trust_sim: Simulator, monkeypatch: pytest.MonkeyPatch, azurite: str) -> Iterator[SharePointApp]:
    app = SharePointApp(trust_sim, monkeypatch, azurite)
    yield app
    app.close()
    app_context.reset()
