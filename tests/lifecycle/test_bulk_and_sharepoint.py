"""Access ends from the other doors: the bulk CSV's optional accessUntil/accessDays columns (the Entra template
stays readable), recorded as grants like the queue worker's, and removed by the same hourly timer."""

from __future__ import annotations

import io
from pathlib import Path

from guest_cli.bulk.command import BulkOptions, run_bulk
from simulator.graph.models import ACCEPTED_GUEST_ID, FALCON_GROUP_ID, PARTNERS_GROUP_ID
from tests.lifecycle.conftest import LifecycleApp

PORTAL_HEADER = ("version:v1.0\nEmail address to invite [inviteeEmail] Required,Redirection url [inviteRedirectURL] "
                 "Required,Send invitation message (true or false) [sendEmail],Groups [groupIds],"
                 "Access days [accessDays]\n")


def bulk(path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_bulk(path, BulkOptions(results=str(path.with_suffix(".out.csv")), tty=False), out, err)
    return code, out.getvalue(), err.getvalue()


def test_bulk_rows_with_an_end_are_granted_and_expire_and_the_rest_stay(life: LifecycleApp, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("email,groupIds,accessDays,accessUntil\n"
                    f"rae@fabrikam.example,{PARTNERS_GROUP_ID},1,\n"
                    f"sol@fabrikam.example,{PARTNERS_GROUP_ID};{FALCON_GROUP_ID},,\n"
                    f"lee@northwind.example,{PARTNERS_GROUP_ID},1,\n", encoding="utf-8")
    code, out, err = bulk(path)
    assert code == 0, out + err
    rae = life.sim.graph.user_by_mail("rae@fabrikam.example")["id"]
    sol = life.sim.graph.user_by_mail("sol@fabrikam.example")["id"]
    assert {rae, sol, ACCEPTED_GUEST_ID} <= life.members(PARTNERS_GROUP_ID)
    code, listed = life.cli("grants", "list", "--json")
    assert code == 0 and '"source": "bulk"' in listed and rae in listed and sol not in listed
    life.days(1.1)
    life.timer()
    assert rae not in life.members(PARTNERS_GROUP_ID)
    assert {sol, ACCEPTED_GUEST_ID} <= life.members(PARTNERS_GROUP_ID)  # no end / added by someone else
    assert sol in life.members(FALCON_GROUP_ID)


def test_the_portal_template_reads_an_optional_access_column_and_bad_cells_are_named(life: LifecycleApp,
                                                                                    tmp_path: Path) -> None:
    path = tmp_path / "portal.csv"
    path.write_text(PORTAL_HEADER + f"tia@fabrikam.example,https://myapps.microsoft.com,false,{PARTNERS_GROUP_ID},"
                    "soon\n", encoding="utf-8")
    code, _, err = bulk(path)
    assert code == 2 and "Access days [accessDays]" in err and "whole number of days" in err
    path.write_text(PORTAL_HEADER + f"tia@fabrikam.example,https://myapps.microsoft.com,false,{PARTNERS_GROUP_ID},2\n",
                    encoding="utf-8")
    code, out, err = bulk(path)
    assert code == 0, out + err
    tia = life.sim.graph.user_by_mail("tia@fabrikam.example")["id"]
    life.days(2.1)
    life.timer()
    assert tia not in life.members(PARTNERS_GROUP_ID)


def test_a_bulk_rows_request_id_revokes_its_access_and_its_status_record_tells_how_it_ended(
        life: LifecycleApp, tmp_path: Path) -> None:
    import csv

    from shared import status

    path = tmp_path / "people.csv"
    path.write_text("email,groupIds,accessDays\n"
                    f"uma@fabrikam.example,{PARTNERS_GROUP_ID},3\n"
                    f"vic@fabrikam.example,{PARTNERS_GROUP_ID},1\n", encoding="utf-8")
    code, out, err = bulk(path)
    assert code == 0, out + err
    with path.with_suffix(".out.csv").open(newline="", encoding="utf-8") as handle:
        uma, vic = (row["requestId"] for row in csv.DictReader(handle))
    store = status.store()
    record = store.read(uma)
    assert record is not None and record.source == "bulk" and record.groups[0].status == status.ADDED
    assert record.groups[0].until  # the end the row asked for, written with the acceptance
    code, answer = life.revoke(uma)  # DELETE /api/invitations/{requestId}, through the worker
    assert code == 200, answer
    uma_id = life.sim.graph.user_by_mail("uma@fabrikam.example")["id"]
    assert uma_id not in life.members(PARTNERS_GROUP_ID)
    assert store.read(uma).groups[0].access_end_reason == "revoked"
    life.days(1.1)
    life.timer()
    assert store.read(vic).groups[0].access_end_reason == "expired"
