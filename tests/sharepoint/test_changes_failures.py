"""The sharepoint-notifications worker meets a setting, credential or Graph failure: the failure policy's verdict,
never a raw exception on the last delivery (the host would poison the notification with no reason)."""

from __future__ import annotations

import json

import pytest

from shared.failures import RetryLater

LAST = 10  # host.json maxDequeueCount
NOTIFICATION = b'{"subscriptionId": "s-1", "resource": "list"}'


def deliver(sp_app, dequeue_count: int) -> dict | None:
    """One delivery through the real worker; what the worker reported raised is raised here."""
    called = sp_app.worker.queue("sharepoint_changes", NOTIFICATION.decode(), message_id="n-1",
                                 dequeue_count=dequeue_count)
    called.raise_error()
    poison = called.outputs.get("sharepoint-notifications-poison", [])
    return json.loads(poison[0]) if poison else None


@pytest.mark.parametrize("failure, kind", [
    ("setting", "not-configured"),
    ("credential", "credential-refused"),
    ("graph outage", "graph-throttled"),
])
def test_a_transient_failure_is_redelivered_then_poisoned_with_its_reason(sp_app, failure, kind):
    sp_app.provision()
    if failure == "setting":
        sp_app.monkeypatch.delenv("SHAREPOINT_LIST_ID")
        sp_app.configure()
    elif failure == "credential":
        sp_app.configure(AZURE_CLIENT_ID="00000000-0000-4000-8000-00000000dead")  # no such managed identity
    else:
        sp_app.sim.faults.add(service="graph", method="GET", path=r"/delta$", status=429, retry_after=600)
    with pytest.raises(RetryLater):
        deliver(sp_app, 1)
    poison = deliver(sp_app, LAST)
    assert poison is not None and poison["attempts"] == LAST
    assert poison["error"]["problem"].endswith(":" + kind), poison
    assert poison["error"]["message"] and poison["message"] == json.loads(NOTIFICATION)


def test_graph_refusing_the_list_is_poisoned_at_once_with_graphs_answer(sp_app):
    sp_app.provision()
    sp_app.sim.faults.add(service="graph", method="GET", path=r"/delta$", status=403)
    poison = deliver(sp_app, 1)
    assert poison is not None and poison["attempts"] == 1
    assert poison["error"]["status"] == 403 and poison["error"]["problem"].endswith(":graph-refused")
