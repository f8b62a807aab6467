"""A resumed `cli.py bulk` trusts only what it can re-derive (issue 13, item 6): a `pending` row planted in the
results file with someone else's user id is not added to groups; the results file is created 0600."""

from __future__ import annotations

import csv
import io
import stat
from pathlib import Path

from guest_cli.bulk.command import BulkOptions, run_bulk
from guest_cli.bulk.results import COLUMNS
from simulator import Simulator
from simulator.graph import models

PARTNERS = models.PARTNERS_GROUP_ID


def _bulk(path: Path, results: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_bulk(path, BulkOptions(results=str(results)), out, err)
    return code, out.getvalue(), err.getvalue()


def _plant(results: Path, email: str, user_id: str) -> None:
    with results.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        cells = {"line": "2", "email": email, "status": "pending", "invitation": "invited", "userId": user_id,
                 "groups": f"{PARTNERS}=pending", "updatedAt": "2026-01-01T00:00:00Z"}
        writer.writerow([cells.get(column, "") for column in COLUMNS])


def _rows(results: Path) -> list[dict[str, str]]:
    with results.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_planted_pending_row_with_another_users_id_is_not_trusted(tenant: Simulator, tmp_path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(f"email,groupIds\nnew.person@fabrikam.com,{PARTNERS}\n", encoding="utf-8")
    results = tmp_path / "people.out.csv"
    _plant(results, "new.person@fabrikam.com", models.MEMBER_USER_ID)  # an internal member, not this row's person

    code, out, err = _bulk(path, results)

    assert models.MEMBER_USER_ID not in tenant.graph.members_of(PARTNERS)
    [row] = _rows(results)
    person = tenant.graph.user_by_mail("new.person@fabrikam.com")
    assert person is not None and row["userId"] == person["id"]  # re-derived from the row's own email
    assert person["id"] in tenant.graph.members_of(PARTNERS)
    assert code == 0, out + err


def test_a_planted_pending_row_for_a_blocked_user_is_refused(tenant: Simulator, tmp_path, monkeypatch) -> None:
    """The recorded user is the row's person, but policy now refuses their domain: nothing is added."""
    from tests.bulk.conftest import configure

    configure(tenant, monkeypatch, BLOCKED_EMAIL_DOMAINS="northwind.example")
    path = tmp_path / "people.csv"
    path.write_text(f"email,groupIds\nsomeone@fabrikam.com,{PARTNERS}\n", encoding="utf-8")
    results = tmp_path / "people.out.csv"
    _plant(results, "someone@fabrikam.com", models.ACCEPTED_GUEST_ID)  # lee@northwind.example, blocked
    before = list(tenant.graph.members_of(PARTNERS))

    _bulk(path, results)

    assert tenant.graph.members_of(PARTNERS).count(models.ACCEPTED_GUEST_ID) == before.count(models.ACCEPTED_GUEST_ID)
    assert tenant.graph.member_add_attempts[(PARTNERS, models.ACCEPTED_GUEST_ID)] == 0


def test_the_results_file_is_created_private(tenant: Simulator, tmp_path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(f"email,groupIds\nprivate@fabrikam.com,{PARTNERS}\n", encoding="utf-8")
    results = tmp_path / "people.out.csv"
    code, out, _ = _bulk(path, results)
    assert code == 0, out
    assert stat.S_IMODE(results.stat().st_mode) == 0o600
