"""One failure, one verdict, at every door (shared/failures.py): each failure the app meets, made real against the
simulated tenant, goes through each door that can meet it, and each door renders the same verdict in its own
medium: the HTTP status and problem type; a queue's redelivery (RetryLater) or poison message with the problem; a
SharePoint row given back (retry) or marked Failed with the reason; a bulk results row with the reason; the CLI's
exit code.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from guest_cli import EXIT_REMOTE, EXIT_USAGE
from guest_cli import main as cli_main
from guest_cli.bulk.command import BulkOptions, run_bulk
from shared import app_context
from shared.failures import RETRYABLE_KINDS, WAIT_KINDS, RetryLater
from shared.sharepoint.rows import RowBusy, RowContext, handle_row
from simulator.graph.models import PARTNERS_GROUP_ID, PENDING_GUEST_ID
from tests.callers.conftest import CallersHarness

LAST = 10  # host.json maxDequeueCount
EMAIL = "table.guest@fabrikam.com"
USERS = r"/users$"
MEMBERS = r"/members/\$ref$"


@dataclass(frozen=True)
class Failure:
    kind: str  # the problem the failure policy gives it (docs/api.md)
    make: Callable[[CallersHarness], None]
    body: dict[str, Any] | None = None  # the request, when the failure is in the request itself

    @property
    def retry(self) -> bool:
        return self.kind in RETRYABLE_KINDS


def _settings(**values: str) -> Callable[[CallersHarness], None]:
    return lambda app: app.configure(**values)


def _graph_fault(path: str, status: int, method: str = "GET", **extra: Any) -> Callable[[CallersHarness], None]:
    return lambda app: app.sim.faults.add(service="graph", method=method, path=path, status=status, **extra)


def _revoke(role: str) -> Callable[[CallersHarness], None]:
    return lambda app: app.sim.identity.revoke(app.sim.identity.default_app.client_id, role)


# The failures met while taking an invitation request (the look-up is the first Graph call).
INTAKE_FAILURES = {
    # 401 on every call: the client fetches a fresh token once, and Graph refuses that one too.
    "graph 401 after the token refresh": Failure("credential-refused", _graph_fault(USERS, 401)),
    "graph 403 insufficient privileges": Failure("graph-permission-missing", _revoke("User.Read.All")),
    "graph 429 past the budget": Failure("graph-throttled", _graph_fault(USERS, 429, retry_after=600)),
    "credential refused": Failure("credential-refused", _settings(AZURE_CLIENT_SECRET="not-the-secret")),
    "identity platform down": Failure("identity-unavailable",
                                      lambda app: app.sim.faults.add(service="login", path=r"openid-configuration$",
                                                                     status=503)),
    "a bad setting": Failure("not-configured", _settings(ALLOWED_GROUP_IDS="not-a-group-id")),
    "policy refusal": Failure("policy-refused", _settings(BLOCKED_EMAIL_DOMAINS="fabrikam.com")),
    "invalid request": Failure("invalid-request", lambda app: None, {"email": "not an address"}),
}

# The same kinds of failure met while adding a user to a group.
MEMBERSHIP_FAILURES = {
    "graph 401 after the token refresh": Failure("credential-refused",
                                                 _graph_fault(MEMBERS, 401, method="POST")),
    "graph 403 insufficient privileges": Failure("graph-permission-missing", _revoke("GroupMember.ReadWrite.All")),
    "graph 429 past the budget": Failure("graph-throttled",
                                         _graph_fault(MEMBERS, 429, method="POST", retry_after=600)),
    "credential refused": Failure("credential-refused", _settings(AZURE_CLIENT_SECRET="not-the-secret")),
    "a bad setting": Failure("not-configured", _settings(ALLOWED_GROUP_IDS="not-a-group-id")),
    "policy refusal": Failure("policy-refused", _settings(ALLOWED_GROUP_IDS="0f8fad5b-d9cb-469f-a165-70867728950e")),
}


def _body(failure: Failure) -> dict[str, Any]:
    return failure.body or {"email": EMAIL, "groupIds": [PARTNERS_GROUP_ID]}


@pytest.fixture
def app(trust_sim, monkeypatch, azurite) -> CallersHarness:
    harness = CallersHarness(trust_sim, monkeypatch, azurite).configure()
    yield harness
    app_context.reset()


# ---- HTTP: the problem's status and type --------------------------------------------------------------------
@pytest.mark.parametrize("name", INTAKE_FAILURES)
def test_http_answers_the_verdicts_problem(app, name):
    failure = INTAKE_FAILURES[name]
    failure.make(app)
    answer = app.invite(_body(failure))
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["type"].endswith(":" + failure.kind), answer.body
    assert answer.messages == []


# ---- guest-invitations: redelivered while worth it, then poisoned with the reason ----------------------------
@pytest.mark.parametrize("name", INTAKE_FAILURES)
def test_guest_invitations_redelivers_or_poisons_as_the_verdict_says(app, name):
    failure = INTAKE_FAILURES[name]
    failure.make(app)
    if failure.retry:
        with pytest.raises(RetryLater):
            app.deliver_invitation(_body(failure), dequeue_count=1)
        memberships, poison = app.deliver_invitation(_body(failure), dequeue_count=LAST)
    else:
        memberships, poison = app.deliver_invitation(_body(failure), dequeue_count=1)
    assert memberships == []
    assert poison is not None and poison["error"]["problem"].endswith(":" + failure.kind), poison
    assert poison["error"]["message"]


# ---- group-memberships: the same, for the add --------------------------------------------------------------
@pytest.mark.parametrize("name", MEMBERSHIP_FAILURES)
def test_group_memberships_redelivers_or_poisons_as_the_verdict_says(app, name):
    failure = MEMBERSHIP_FAILURES[name]
    message = {"userId": PENDING_GUEST_ID, "groupId": PARTNERS_GROUP_ID, "requestId": "r-table"}
    app.configure(simulated_waits=True)  # a put-back message waits in simulated time
    failure.make(app)
    if failure.retry and failure.kind in WAIT_KINDS:  # a wait: put back with a delay, the invocation succeeds
        assert app.deliver(message, 1) is None
        (copy,) = app.put_back()
        assert copy["attempts"] == 1
        poison = app.deliver({**message, "attempts": LAST - 1}, 1)
    elif failure.retry:  # a fault: raised for the host to redeliver
        with pytest.raises(RetryLater):
            app.deliver(message, 1)
        assert app.put_back() == []
        poison = app.deliver(message, LAST)
    else:
        poison = app.deliver(message, 1)
    assert poison is not None and poison["error"]["message"], poison
    assert poison["attempts"] == (LAST if failure.retry else 1)
    assert poison["error"]["problem"].endswith(":" + failure.kind), poison



# ---- a SharePoint row: given back to be tried again, or Failed with the reason -------------------------------
class RecordingLists:
    """Stands in for the list (the row door's collaborator): records each field write."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []

    def update_fields(self, site_id: str, list_id: str, item_id: str, fields: dict[str, Any],
                      etag: str | None) -> dict[str, Any]:
        self.writes.append(fields)
        return {"@odata.etag": f'"{len(self.writes)}"'}


# A bad setting or an identity platform that is down stop the whole SharePoint worker before any row (it builds
# the Graph client first): tests/sharepoint/test_changes_failures.py covers that door.
ROW_FAILURES = [name for name, failure in INTAKE_FAILURES.items()
                if failure.kind not in ("not-configured", "identity-unavailable")]


@pytest.mark.parametrize("name", ROW_FAILURES)
def test_a_sharepoint_row_is_given_back_or_failed_as_the_verdict_says(app, name):
    failure = INTAKE_FAILURES[name]
    failure.make(app)
    ctx = app_context.current()
    lists = RecordingLists()
    rows = RowContext(ctx.settings(), ctx.graph(), lists, "site", "list", None, None)  # type: ignore[arg-type]
    body = _body(failure)
    item = {"id": "7", "eTag": '"0"',
            "fields": {"Email": body["email"], "GroupIds": ";".join(body.get("groupIds", []))}}
    if failure.retry:
        with pytest.raises(RowBusy):
            handle_row(rows, item)
        assert lists.writes[-1] == {"ProcessedAt": None}  # the claim is given back
    else:
        assert handle_row(rows, item) == "failed"
        assert lists.writes[-1]["Status"] == "Failed" and lists.writes[-1]["Error"]


# ---- the CLI's invite: exit 2 for what is fixed here (input, settings, policy), 3 for a remote refusal ---------
@pytest.mark.parametrize("name", [n for n, f in INTAKE_FAILURES.items() if f.kind != "invalid-request"])
def test_cli_invite_exits_as_the_verdict_says(app, name, capsys):
    failure = INTAKE_FAILURES[name]
    failure.make(app)
    code = cli_main(["invite", EMAIL, "--group", PARTNERS_GROUP_ID])
    err = capsys.readouterr().err
    assert code == (EXIT_USAGE if failure.kind in ("not-configured", "policy-refused") else EXIT_REMOTE), err
    assert err.startswith("error:")


# ---- a bulk row: the reason in the results file (a re-run retries it), or exit 2 before any row -------------
@pytest.mark.parametrize("name", [n for n, f in INTAKE_FAILURES.items() if f.kind != "invalid-request"])
def test_a_bulk_row_records_the_verdicts_reason(app, name, tmp_path: Path):
    failure = INTAKE_FAILURES[name]
    failure.make(app)
    path = tmp_path / "people.csv"
    path.write_text(f"email,groupIds\n{EMAIL},{PARTNERS_GROUP_ID}\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = run_bulk(path, BulkOptions(results=str(tmp_path / "out.csv")), out, err)
    if failure.kind in ("not-configured", "policy-refused"):
        assert code == EXIT_USAGE, err.getvalue()
        return
    results = tmp_path / "out.csv"
    if not results.exists():  # no token for Graph: refused before any row was sent
        assert code == EXIT_REMOTE and failure.kind in ("identity-unavailable", "credential-refused"), err.getvalue()
        return
    with results.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[-1]["status"] == "failed" and rows[-1]["error"], json.dumps(rows)
