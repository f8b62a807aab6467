"""The list's "Access until" column: provisioned with the others, a row's value becomes the grant's end, and the
"Access status" column follows the grant (granted, expired)."""

from __future__ import annotations

import datetime as dt
import json
import time

from shared import app_context
from shared.app_context import Timing
from simulator.graph.models import PARTNERS_GROUP_ID


def test_a_rows_access_until_becomes_its_grants_end_and_a_past_one_fails_the_row(sp_app) -> None:
    sp_app.provision()
    assert "AccessUntil" in {column["name"] for column in sp_app.sp_list.columns}
    sp_app.cli("sharepoint", "subscribe")
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    row = sp_app.add_row(Email="uma@fabrikam.example", GroupIds=PARTNERS_GROUP_ID, AccessUntil=until)
    past = sp_app.add_row(Email="vic@fabrikam.example", GroupIds=PARTNERS_GROUP_ID, AccessUntil="2001-01-01T00:00:00Z")
    sp_app.settle()
    assert sp_app.row(row)["Status"] == "Added", sp_app.row(row)
    user = sp_app.row(row)["InvitedUserId"]
    assert user in sp_app.sim.graph.members_of(PARTNERS_GROUP_ID)
    code, listed = sp_app.cli("grants", "list", "--json")
    assert code == 0
    assert [(g["groupId"], g["until"], g["source"]) for g in json.loads(listed) if g["userId"] == user] == [
        (PARTNERS_GROUP_ID, until, "sharepoint")]
    assert sp_app.row(past)["Status"] == "Failed" and "accessUntil" in sp_app.row(past)["Error"]
    assert sp_app.sim.graph.user_by_mail("vic@fabrikam.example") is None
    assert sp_app.row(row)["AccessStatus"] == f"group {PARTNERS_GROUP_ID}: access until {until}"

    # four days later (the app's wall clock moved), the hourly expiry removes it and the row says so
    app_context.reset(timing=Timing(wall=lambda: time.time() + 4 * 86400))
    sp_app.worker.timer("expire_grants").raise_error()
    assert user not in sp_app.sim.graph.members_of(PARTNERS_GROUP_ID)
    assert sp_app.row(row)["AccessStatus"] == f"group {PARTNERS_GROUP_ID}: access ended {until} (expired)"
    assert sp_app.row(row)["Status"] == "Added"  # the request's own outcome is unchanged
