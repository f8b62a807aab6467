"""Provisioning the list and keeping its webhook subscription alive: the command line and the daily timer."""

from __future__ import annotations

import contextlib
import datetime as dt
import io

import pytest

from shared.sharepoint.lists import COLUMNS, LIST_TITLE
from shared.sharepoint.subscriptions import ensure_subscription

pytestmark = pytest.mark.azurite


def test_provision_is_idempotent_and_adds_missing_columns(sp_app):
    backend = sp_app.sim.sharepoint
    partial = backend.add_list(sp_app.site, LIST_TITLE, [{"name": "Email", "text": {}}])
    code, output = sp_app.cli("sharepoint", "provision")
    assert code == 0
    assert f"SHAREPOINT_LIST_ID={partial.id}" in output
    assert [c["name"] for c in partial.columns] == [c["name"] for c in COLUMNS]
    code, output = sp_app.cli("sharepoint", "provision")
    assert code == 0 and "nothing to change" in output
    assert len(backend.lists_of(sp_app.site)) == 1


def test_provision_and_subscribe_print_json_with_json(sp_app):
    import json

    code, output = sp_app.cli("sharepoint", "provision", "--json")
    provisioned = json.loads(output)
    assert code == 0 and provisioned["created"] is True and provisioned["title"] == LIST_TITLE
    sp_app.configure(SHAREPOINT_LIST_ID=provisioned["listId"])
    code, output = sp_app.cli("sharepoint", "subscribe", "--json")
    subscribed = json.loads(output)
    assert code == 0 and subscribed["action"] == "created" and subscribed["expiration"]
    assert [s.id for s in sp_app.sim.sharepoint.subscriptions.of_list(provisioned["listId"])] == [
        subscribed["subscriptionId"]]


def test_provision_without_a_site_setting_names_it(sp_app, monkeypatch, capsys):
    monkeypatch.delenv("SHAREPOINT_SITE_URL")
    sp_app.configure()
    with contextlib.redirect_stderr(io.StringIO()) as err:
        code, _ = sp_app.cli("sharepoint", "provision")
    assert code == 2 and "SHAREPOINT_SITE_URL" in err.getvalue()


def test_subscribe_twice_keeps_one_subscription(sp_app):
    list_id = sp_app.provision()
    assert sp_app.cli("sharepoint", "subscribe")[0] == 0
    code, output = sp_app.cli("sharepoint", "subscribe")
    assert code == 0 and "unchanged" in output
    assert len(sp_app.sim.sharepoint.subscriptions.of_list(list_id)) == 1
    assert len(sp_app.sim.sharepoint.subscriptions.handshakes) == 1


def test_subscription_is_renewed_to_180_days_when_under_30_remain(sp_app):
    list_id = sp_app.provision()
    created = ensure_subscription()
    days = 155
    sp_app.sim.clock.advance(days * 86400)  # SharePoint's clock and the app's move together
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    renewed = ensure_subscription(now=later)
    assert renewed.action == "renewed" and renewed.subscription_id == created.subscription_id
    (subscription,) = sp_app.sim.sharepoint.subscriptions.of_list(list_id)
    left = dt.datetime.fromtimestamp(subscription.expiration, dt.UTC) - later
    assert dt.timedelta(days=179) < left <= dt.timedelta(days=180)


def test_daily_timer_recreates_a_vanished_subscription(sp_app):
    list_id = sp_app.provision()
    first = ensure_subscription()
    sp_app.sim.sharepoint.subscriptions.items.clear()  # expired or deleted by an admin
    sp_app.worker.timer("sharepoint_subscription_renewal").raise_error()
    (subscription,) = sp_app.sim.sharepoint.subscriptions.of_list(list_id)
    assert subscription.id != first.subscription_id
    assert len(sp_app.sim.sharepoint.subscriptions.handshakes) == 2


def test_subscribe_with_a_client_secret_explains_sharepoints_refusal(sp_app, monkeypatch):
    sp_app.provision()
    app = sp_app.sim.identity.default_app
    sp_app.configure(AZURE_TENANT_ID=sp_app.sim.tenant_id, AZURE_CLIENT_ID=app.client_id,
                     AZURE_CLIENT_SECRET=app.secret)
    with contextlib.redirect_stderr(io.StringIO()) as err:
        code, _ = sp_app.cli("sharepoint", "subscribe")
    assert code == 3
    assert "Unsupported app only token" in err.getvalue()
    assert app.secret not in err.getvalue()
