"""End to end through both fakes: a guest-invitations message fails for a missing permission, lands in poison with
the reason (Azurite), an operator grants the permission and requeues it with the CLI, and it then succeeds."""

from __future__ import annotations

import json
import uuid

import pytest
from azure.storage.queue import QueueServiceClient

from guest_cli import main
from simulator.graph.models import PARTNERS_GROUP_ID

pytestmark = pytest.mark.azurite
ALICE = {"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID], "requestId": "crm-4711"}


def test_a_missing_permission_is_fixed_and_the_message_requeued_with_the_cli(app, azurite, capsys):
    service = QueueServiceClient.from_connection_string(azurite)
    main_name = f"t{uuid.uuid4().hex[:12]}-guest-invitations"
    for name in (main_name, main_name + "-poison"):
        service.create_queue(name)
    client_id = app.sim.identity.default_app.client_id
    app.sim.identity.revoke(client_id, "User.Invite.All")
    try:
        _, poison = app.deliver_invitation(ALICE, encoding="base64")  # what the trigger's poison output writes
        service.get_queue_client(main_name + "-poison").send_message(json.dumps(poison))

        assert main(["poison", "list", main_name + "-poison", "--connection-string", azurite, "--json"]) == 0
        (listed,) = json.loads(capsys.readouterr().out)["messages"]
        assert "User.Invite.All" in listed["reason"] and listed["attempts"] == 1

        app.sim.identity.grant(client_id, "User.Invite.All")
        app.configure()  # the next token carries the new role (a restart here; within the token's lifetime live)
        assert main(["poison", "requeue", main_name, "--all", "--connection-string", azurite]) == 0

        (requeued,) = service.get_queue_client(main_name).receive_messages(max_messages=1)
        assert json.loads(requeued.content) == ALICE  # the original, as plain JSON text
        memberships, poison = app.deliver_invitation(requeued.content)
        assert poison is None and len(memberships) == 1
        assert app.sim.graph.emails_to("alice@fabrikam.com") == 1
        assert service.get_queue_client(main_name + "-poison").get_queue_properties().approximate_message_count == 0
    finally:
        for name in (main_name, main_name + "-poison"):
            service.delete_queue(name)
