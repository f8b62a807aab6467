"""A group-memberships message's ``source`` never steers Graph (issue 13, item 1): the SharePoint outcome hook
acts only on the configured site's configured list, with a digits-only item id; anything else is ignored (logged),
and a message that fails validation runs no hook at all. Checked on what reached the simulator."""

from __future__ import annotations

import json
import re

import pytest

from simulator.graph.models import MEMBER_USER_ID, PARTNERS_GROUP_ID, PENDING_GUEST_ID

pytestmark = pytest.mark.azurite


def _site_and_list(sp_app) -> tuple[str, str]:
    list_id = sp_app.provision()
    return sp_app.sim.sharepoint.site_id(sp_app.site), list_id


def _hostile_sources(site_id: str, list_id: str, other_list: str, other_item: str) -> list[dict]:
    base = {"type": "sharepoint", "siteId": site_id, "listId": list_id, "itemId": "1"}
    return [
        {**base, "siteId": f"x/../../users/{MEMBER_USER_ID}#"},
        {**base, "listId": f"{list_id}/../../../../users/{MEMBER_USER_ID}#"},
        {**base, "listId": other_list, "itemId": other_item},
        {**base, "listId": other_list.upper(), "itemId": other_item},
        {**base, "itemId": "1/../../../../../users/" + MEMBER_USER_ID + "#"},
        {**base, "itemId": "1?x=1"},
        {**base, "itemId": "\u0661"},  # ARABIC-INDIC DIGIT ONE: a digit to str.isdigit, not to Graph
        {**base, "itemId": 1.5},
        {**base, "siteId": "contoso.sharepoint.com,00000000-0000-0000-0000-000000000000,"
                           "00000000-0000-0000-0000-000000000000"},
    ]


def test_a_hostile_source_reaches_nothing_but_the_membership(sp_app):
    site_id, list_id = _site_and_list(sp_app)
    other = sp_app.sim.sharepoint.add_list(sp_app.site, "Unrelated", [{"name": "Status"}, {"name": "Error"}])
    other_row = sp_app.sim.sharepoint.add_item(other, {"Status": "Open"}).id
    row = sp_app.add_row(Email="ivy@fabrikam.com", GroupIds=PARTNERS_GROUP_ID)
    sp_app.sim.sharepoint.notifier.wait_idle()
    sp_app.queues.clear("sharepoint-notifications")
    before = dict(sp_app.row(row))
    sp_app.sim.stats.reset()

    for source in _hostile_sources(site_id, list_id, other.id, other_row):
        # With an end, the lifecycle records a grant whose events write the row's Access status: the same rule.
        message = {"userId": PENDING_GUEST_ID, "groupId": PARTNERS_GROUP_ID, "source": source,
                   "accessUntil": "2030-01-01T00:00:00Z"}
        sp_app.queues.send("group-memberships", json.dumps(message))
    sp_app.queues.run_until_empty("add_membership")

    outside = [f"{r.method} {r.path}" for r in sp_app.sim.stats.requests
               if r.service == "graph" and not re.fullmatch(
                   rf"(POST /v1\.0/groups/{PARTNERS_GROUP_ID}/members/\$ref"
                   rf"|GET /v1\.0/users/{PENDING_GUEST_ID}"
                   rf"|GET /v1\.0/sites/[^/]+:/sites/partners)", f"{r.method} {r.path}")]
    assert outside == []
    assert sp_app.sim.stats.count(service="graph", method="PATCH") == 0
    assert sp_app.row(row) == before
    assert dict(other.items[other_row].fields).get("Status") == "Open"
    assert sp_app.queues.peek("group-memberships-poison") == []


def test_an_invalid_message_runs_no_hook(sp_app):
    _site_and_list(sp_app)
    code, output = sp_app.cli("sharepoint", "subscribe")
    assert code == 0, output
    row = sp_app.add_row(Email="jade@fabrikam.com", GroupIds=PARTNERS_GROUP_ID)
    sp_app.sim.sharepoint.notifier.wait_idle()
    sp_app.queues.run_until_empty("sharepoint_changes")
    [queued] = [json.loads(text) for text in sp_app.queues.peek("group-memberships")]
    sp_app.queues.clear("group-memberships")
    before = dict(sp_app.row(row))
    assert before["Status"] == "Invited"
    sp_app.sim.stats.reset()

    # The row's own source, on a message that is not valid: it must not mark the row Failed.
    sp_app.queues.send("group-memberships", json.dumps({**queued, "userId": "not-a-guid"}))
    sp_app.queues.run_until_empty("add_membership")

    [poisoned] = [json.loads(text) for text in sp_app.queues.peek("group-memberships-poison")]
    assert poisoned["error"]["code"] == "InvalidMessage"
    assert sp_app.sim.stats.count(service="graph") == 0
    assert sp_app.row(row) == before
