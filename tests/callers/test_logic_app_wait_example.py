"""examples/logic-app-invite-and-wait.json: the workflow that waits for the memberships (asynchronous request-reply),
checked as a definition and run, as the Logic Apps engine would run its HTTP action, against the app behind devhost."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from simulator.graph.models import FINANCE_GROUP_ID, PARTNERS_GROUP_ID
from tests.callers.test_logic_app_example import all_actions, expressions

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "logic-app-invite-and-wait.json"


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))["definition"]


def test_the_action_asks_for_the_async_answer_and_keeps_the_engines_polling(definition):
    action = definition["actions"]["Invite_and_wait"]
    assert action["type"] == "Http" and action["inputs"]["headers"]["Prefer"] == "respond-async"
    assert "operationOptions" not in action  # no DisableAsyncPattern: the engine follows Location while 202
    assert re.fullmatch(r"PT\d+H", action["limit"]["timeout"])  # the whole wait is bounded
    key = action["inputs"]["headers"]["x-functions-key"]
    name = re.fullmatch(r"@parameters\('(\w+)'\)", key).group(1)
    assert definition["parameters"][name]["type"] == "SecureString"
    assert action["runtimeConfiguration"]["secureData"]["properties"] == ["inputs"]


def test_every_reference_names_something_that_exists(definition):
    names = {name for name, _, _ in all_actions(definition["actions"])}
    for name, action, siblings in all_actions(definition["actions"]):
        assert set(action.get("runAfter", {})) <= set(siblings) - {name}, name
    text = list(expressions(definition["actions"]))
    referenced = {match for line in text for match in re.findall(r"(?:body|outputs)\('(\w+)'\)", line)}
    assert referenced and referenced <= names


def run_like_logic_apps(definition: dict[str, Any], host, app, body: dict) -> requests.Response:
    """The HTTP action as the engine runs it: the inputs with the parameters filled in; then, while 202, a plain
    GET of Location (none of the action's headers) after Retry-After (simulated: the queue host runs meanwhile)."""
    inputs = definition["actions"]["Invite_and_wait"]["inputs"]
    base = host.front.base_url
    uri = inputs["uri"].replace("@{parameters('functionAppUrl')}", base)
    run_name = f"run-{uuid.uuid4().hex}"
    headers = {name: value.replace("@parameters('functionKey')", host.front.key)
               .replace("@{workflow()?['run']?['name']}", run_name) for name, value in inputs["headers"].items()}
    answer = requests.request(inputs["method"], uri, json=body, headers=headers, timeout=30)
    for _ in range(60):
        if answer.status_code != 202:
            return answer
        app.sim.clock.advance(int(answer.headers["Retry-After"]))
        host.runner.run_until_empty("add_membership")
        answer = requests.get(answer.headers["Location"], timeout=30)
    raise AssertionError("still waiting")


def branch_taken(definition: dict[str, Any], final: dict[str, Any]) -> str:
    check = definition["actions"]["Every_group_is_in"]
    ((left, right),) = [operands for item in check["expression"]["and"] for operands in item.values()]
    assert left == "@body('Invite_and_wait')?['status']"
    return "done" if final.get("status") == right else "failed"


def test_run_against_the_app_a_new_guest_under_lag_ends_in_the_done_branch(definition, host, app):
    app.sim.replication_lag = 40
    final = run_like_logic_apps(definition, host, app, {"email": "nia@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert final.status_code == 200 and branch_taken(definition, final.json()) == "done"


def test_run_against_the_app_a_group_that_forbids_guests_ends_in_the_failed_branch(definition, host, app):
    final = run_like_logic_apps(definition, host, app, {"email": "nia@fabrikam.com",
                                                        "groupIds": [FINANCE_GROUP_ID]})
    assert final.status_code == 200 and branch_taken(definition, final.json()) == "failed"
    (group,) = final.json()["groups"]
    assert group["status"] == "failed" and "not allowed to join" in group["problem"]["message"]
