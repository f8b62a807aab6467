"""The doctor's storage checks: queues reachable, missing, or storage unreachable (fails fast, no retries); and
the recorded evidence of invitations blocked by tenant policy."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket

import pytest
from azure.core.exceptions import ResourceNotFoundError

from shared.storage_checks import QUEUES
from tests.conftest import AZURITE_PORTS

from .conftest import by_name, failing

pytestmark = pytest.mark.azurite
SITE = "https://contoso.sharepoint.com/sites/onboarding"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the socket is closed


def poison_entry(message: str, *, email: str = "bob@fabrikam.com", hours_ago: float = 0) -> str:
    failed_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours_ago)
    return json.dumps({"message": {"email": email}, "attempts": 1,
                       "failedAt": failed_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
                       "error": {"status": 422, "code": "Authorization_RequestDenied", "message": message}})


def test_every_contract_queue_is_reported_reachable(tenant, capsys):
    tenant.configure()
    _, report, _ = tenant.doctor(capsys=capsys)
    checks = by_name(report)
    assert all(checks[f"queue {name}"]["status"] == "ok" for name in QUEUES)
    assert checks["storage"]["detail"] == "AzureWebJobsStorage connection string"


def test_poison_messages_are_counted_with_the_command_to_see_them(tenant, capsys):
    tenant.configure()
    tenant.queues.get_queue_client("guest-invitations-poison").send_message(poison_entry("Graph: not found"))
    _, report, _ = tenant.doctor(capsys=capsys)
    check = by_name(report)["queue guest-invitations-poison"]
    assert check["status"] == "ok" and "python cli.py poison list guest-invitations-poison" in check["detail"]


def test_a_missing_queue_is_named_with_the_command_that_creates_it(tenant, capsys):
    tenant.configure(SHAREPOINT_SITE_URL=SITE)
    tenant.sim.identity.grant(tenant.principal.client_id, "Sites.Selected")
    tenant.queues.delete_queue("sharepoint-notifications")
    try:
        code, report, _ = tenant.doctor(capsys=capsys)
    finally:
        tenant.create_queues("sharepoint-notifications")
    check = by_name(report)["queue sharepoint-notifications"]
    assert code == 1 and failing(report) == {"queue sharepoint-notifications"}
    assert check["status"] == "missing"
    assert 'az storage queue create --name sharepoint-notifications --connection-string' in check["fix"]


def test_unreachable_storage_fails_at_the_first_queue_and_skips_the_rest(tenant, capsys):
    port = closed_port()
    tenant.configure(AzureWebJobsStorage=tenant.azurite.replace(f":{AZURITE_PORTS['queue']}/", f":{port}/"))
    code, report, _ = tenant.doctor(capsys=capsys)
    checks = by_name(report)
    assert code == 1 and failing(report) == {"queue group-memberships"}
    assert checks["queue group-memberships"]["detail"].startswith("unreachable")
    assert f"127.0.0.1:{port}" in checks["queue group-memberships"]["detail"]
    assert all(checks[f"queue {name}"]["status"] == "skipped" for name in QUEUES[1:])
    assert checks["invitation policy"]["status"] == "skipped"


def test_no_storage_setting_is_missing_and_names_it(tenant, capsys):
    tenant.configure(AzureWebJobsStorage=None)
    code, report, _ = tenant.doctor(capsys=capsys)
    check = by_name(report)["storage"]
    assert code == 1 and check["status"] == "missing" and check["detail"].startswith("AzureWebJobsStorage:")


def test_a_recent_tenant_policy_refusal_is_reported_with_the_admin_fix(tenant, capsys):
    tenant.configure()
    text = ("Authorization_RequestDenied: Guest invitations not allowed for your company. Contact your company "
            "administrator for more details.")
    tenant.queues.get_queue_client("guest-invitations-poison").send_message(poison_entry(text))
    code, report, _ = tenant.doctor(capsys=capsys)
    check = by_name(report)["invitation policy"]
    assert code == 1 and check["status"] == "error" and "Guest invitations not allowed" in check["detail"]
    assert "External collaboration settings" in check["fix"] and "poison requeue" in check["fix"]


def test_an_old_refusal_no_longer_counts(tenant, capsys):
    tenant.configure()
    poison = tenant.queues.get_queue_client("guest-invitations-poison")
    poison.send_message(poison_entry("Guest invitations not allowed for your company.", hours_ago=30))
    code, report, _ = tenant.doctor(capsys=capsys)
    assert code == 0 and by_name(report)["invitation policy"]["status"] == "ok"


def test_a_cross_tenant_block_names_only_the_domain(tenant, capsys):
    tenant.configure()
    text = "This invitation is blocked by cross-tenant access settings. Admins in both your organization and ..."
    tenant.queues.get_queue_client("guest-invitations-poison").send_message(
        poison_entry(text, email="carol@blocked.example"))
    code, report, _ = tenant.doctor(capsys=capsys)
    check = by_name(report)["invitation policy"]
    assert code == 0 and check["status"] == "ok"
    assert "blocked.example" in check["detail"] and "carol" not in json.dumps(report)
    assert "Cross-tenant access settings" in check["fix"]


def test_hostile_poison_evidence_neither_crashes_nor_reaches_the_terminal_raw(tenant, capsys):
    """Deeply nested JSON and control characters in a poison message (issue 13, item 6): the doctor reports, and
    prints them escaped (text and JSON)."""
    from guest_cli import main

    tenant.configure()
    poison = tenant.queues.get_queue_client("guest-invitations-poison")
    hostile = "Guest invitations not allowed for your company.\x1b[2J\r\u2028\u0085\u202e\x07 end"
    poison.send_message(poison_entry(hostile, email="x\x1b[31m@fabrikam.com"))
    failed_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    poison.send_message(json.dumps({"message": json.loads("[" * 900 + "]" * 900), "attempts": 1,
                                    "failedAt": failed_at, "error": {"message": json.loads("[" * 900 + "]" * 900)}}))
    poison.send_message("[" * 5000 + "]" * 5000)
    for argv in (["doctor", "--no-settings-file"], ["doctor", "--json", "--no-settings-file"]):
        code = main(argv)
        out = capsys.readouterr().out
        assert code == 1 and "invitation policy" in out
        assert not any(ch in out for ch in "\x1b\r\u2028\u0085\u202e\x07"), argv


def test_reminders_need_the_guest_expiring_queue(tenant, capsys):
    code, report, _ = tenant.doctor(capsys=capsys)
    assert "queue guest-expiring" not in by_name(report)  # reminders off: not asked for
    tenant.configure(EXPIRY_REMINDER_DAYS="3")
    with contextlib.suppress(ResourceNotFoundError):
        tenant.queues.delete_queue("guest-expiring")
    code, report, _ = tenant.doctor(capsys=capsys)
    assert code == 1 and failing(report) == {"queue guest-expiring"}
    assert "az storage queue create --name guest-expiring" in by_name(report)["queue guest-expiring"]["fix"]
    tenant.create_queues("guest-expiring")
    code, report, _ = tenant.doctor(capsys=capsys)
    assert code == 0 and by_name(report)["queue guest-expiring"]["status"] == "ok"
