"""The bindings the worker reports to the host (its functions metadata), held against what infra/ creates and the
queue table in docs/architecture.md: a queue a binding names but nobody creates would fail on Azure (identity-based
storage cannot create queues on first use), and a table that drifted from the bindings misleads operators."""

from __future__ import annotations

import re
from pathlib import Path

import devhost
from tests.deploy.bicep_text import app_setting_names, string_array

ROOT = Path(__file__).resolve().parents[2]
STORAGE = "AzureWebJobsStorage"

# name -> (trigger as the worker reports it, output queues by binding name)
EXPECTED = {
    "invite": ({"type": "httpTrigger", "route": "invitations", "methods": ["POST"], "authLevel": "FUNCTION"},
               {"memberships": "group-memberships"}),
    "add_membership": ({"type": "queueTrigger", "queueName": "group-memberships", "connection": STORAGE},
                       {"poison": "group-memberships-poison"}),
    "invite_from_queue": ({"type": "queueTrigger", "queueName": "guest-invitations", "connection": STORAGE},
                          {"memberships": "group-memberships", "poison": "guest-invitations-poison"}),
    "openapi": ({"type": "httpTrigger", "route": "openapi.json", "methods": ["GET"], "authLevel": "ANONYMOUS"}, {}),
    "invitation_status": ({"type": "httpTrigger", "route": "invitations/{requestId}", "methods": ["GET"],
                           "authLevel": "FUNCTION"}, {}),
    # Anonymous: the signed status link is the credential (shared/status_links.py), the function key never travels.
    "invitation_status_link": ({"type": "httpTrigger", "route": "invitations/{requestId}/status", "methods": ["GET"],
                                "authLevel": "ANONYMOUS"}, {}),
    "sweep_invitation_status": ({"type": "timerTrigger", "schedule": "0 17 3 * * *"}, {}),
    "health": ({"type": "httpTrigger", "route": "health", "methods": ["GET"], "authLevel": "FUNCTION"}, {}),
    "sharepoint_notifications": ({"type": "httpTrigger", "route": "sharepoint/notifications", "methods": ["POST"],
                                  "authLevel": "FUNCTION"}, {"notifications": "sharepoint-notifications"}),
    "sharepoint_changes": ({"type": "queueTrigger", "queueName": "sharepoint-notifications", "connection": STORAGE},
                           {"poison": "sharepoint-notifications-poison"}),
    "sharepoint_subscription_renewal": ({"type": "timerTrigger", "schedule": "0 30 3 * * *"}, {}),
    "expire_grants": ({"type": "timerTrigger", "schedule": "0 5 * * * *"}, {}),
    "revoke_invitation": ({"type": "httpTrigger", "route": "invitations/{requestId}", "methods": ["DELETE"],
                           "authLevel": "FUNCTION"}, {}),
}
# Queues the app writes with the storage SDK rather than an output binding, and why.
SDK_WRITTEN = {"guest-expiring": "the hourly expiry sends each reminder before recording it (shared/lifecycle.py), "
                                 "so a failure repeats a reminder rather than losing it"}


def _queue_table() -> dict[str, tuple[str, str]]:
    """docs/architecture.md's queue table: queue -> (producer cell, consumer cell)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| ([^|]*) \| ([^|]*) \|", text, re.MULTILINE)
    return {queue: (producer, consumer) for queue, producer, consumer in rows}


def test_the_reported_bindings_are_the_ones_the_app_means() -> None:
    functions = devhost.worker().functions
    assert set(functions) == set(EXPECTED)
    for name, (trigger, outputs) in EXPECTED.items():
        function = functions[name]
        reported = function.trigger()
        assert {key: reported.get(key) for key in trigger} == trigger, name
        assert function.queue_outputs() == outputs, name
        for binding in function.bindings:
            # No dataType: the host passes queue messages as text and HTTP bodies as the worker asks (bytes).
            assert "dataType" not in binding, (name, binding)
            if binding["type"] in ("queue", "queueTrigger"):
                assert binding["connection"] == STORAGE, (name, binding)
        http_out = [b for b in function.bindings if b["type"] == "http"]
        if reported["type"] == "httpTrigger":  # the answer is the function's return value
            assert http_out == [{"direction": "OUT", "type": "http", "name": "$return"}], name


def test_every_queue_a_binding_names_is_created_by_infra_and_in_the_architecture_table() -> None:
    created = set(string_array((ROOT / "infra" / "main.bicep").read_text(encoding="utf-8"), "queueNames"))
    table = _queue_table()
    assert set(table) == created
    for function in devhost.worker().functions.values():
        trigger = function.trigger()
        if trigger["type"] == "queueTrigger":
            assert trigger["queueName"] in created, function.name
            assert f"`{function.name}`" in table[trigger["queueName"]][1], f"{function.name} not its queue's consumer"
        for queue in function.queue_outputs().values():
            assert queue in created, (function.name, queue)
            assert function.name in table[queue][0], f"{function.name} is not listed as a producer of {queue}"


def test_every_created_queue_is_bound_or_a_poison_queue_of_a_bound_one() -> None:
    created = set(string_array((ROOT / "infra" / "main.bicep").read_text(encoding="utf-8"), "queueNames"))
    bound = set()
    for function in devhost.worker().functions.values():
        bound |= set(function.queue_outputs().values())
        if function.trigger()["type"] == "queueTrigger":
            bound.add(function.trigger()["queueName"])
    assert created - bound - set(SDK_WRITTEN) <= {f"{queue}-poison" for queue in bound}


def test_the_storage_connection_the_bindings_name_is_deployed_identity_based() -> None:
    deployed = set(app_setting_names((ROOT / "infra" / "app" / "function.bicep").read_text(encoding="utf-8")))
    assert {f"{STORAGE}__queueServiceUri", f"{STORAGE}__credential"} <= deployed
