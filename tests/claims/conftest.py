"""The app on the local Functions host (devhost: the real worker) with Azurite and the SharePoint list, as the
SharePoint tests build it, plus what the racing tests need: every door at once, the claim table, a second
process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.data.tables import TableServiceClient

from shared import app_context
from shared.claims import TABLE
from simulator import Simulator
from tests.sharepoint.conftest import SharePointApp

INVITE_POST = r"/invitations$"


def invitation_posts(sim: Simulator) -> int:
    return sim.stats.count(service="graph", method="POST", path=INVITE_POST)


@pytest.fixture
def doors(trust_sim: Simulator, monkeypatch: pytest.MonkeyPatch, azurite: str) -> Iterator[SharePointApp]:
    """Every door of one app process; the claim table empty; a repeat invitation WOULD email again."""
    service = TableServiceClient.from_connection_string(azurite)
    service.delete_table(TABLE)  # nothing left from another test (Azurite is shared by the session)
    app = SharePointApp(trust_sim, monkeypatch, azurite)
    app.queues.clear("guest-invitations", "guest-invitations-poison")
    trust_sim.graph.repeat_invitation_email = "always"
    yield app
    app.close()
    app_context.reset()
