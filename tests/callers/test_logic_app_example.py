"""examples/logic-app-invite-guest.json: a well-formed workflow definition aimed at the real API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.requests_model import INVITATION_FIELDS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "logic-app-invite-guest.json"
SCHEMA_2016 = "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#"


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))["definition"]


def all_actions(actions: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(name, action, its sibling actions) for every action, nested ones (Switch cases, If branches) included."""
    for name, action in actions.items():
        yield name, action, actions
        nested = [action.get("actions"), action.get("else", {}).get("actions"),
                  action.get("default", {}).get("actions")]
        nested += [case.get("actions") for case in action.get("cases", {}).values()]
        for scope in nested:
            if scope:
                yield from all_actions(scope)


def expressions(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from expressions(value)
    elif isinstance(node, list):
        for value in node:
            yield from expressions(value)


def test_it_is_a_2016_06_01_definition_with_one_request_trigger(definition):
    assert definition["$schema"] == SCHEMA_2016 and definition["contentVersion"]
    (trigger,) = definition["triggers"].values()
    assert (trigger["type"], trigger["kind"], trigger["inputs"]["method"]) == ("Request", "Http", "POST")


def test_the_http_action_posts_the_body_to_the_invitations_api(definition):
    http = definition["actions"]["Invite_guest"]
    assert http["type"] == "Http" and http["inputs"]["method"] == "POST"
    assert http["inputs"]["uri"].endswith("/api/invitations")
    assert http["inputs"]["body"] == "@triggerBody()"
    assert http["inputs"]["headers"]["Content-Type"] == "application/json"


def test_the_function_key_comes_from_a_secure_parameter_and_stays_out_of_run_history(definition):
    header = definition["actions"]["Invite_guest"]["inputs"]["headers"]["x-functions-key"]
    name = re.fullmatch(r"@parameters\('(\w+)'\)", header).group(1)
    parameter = definition["parameters"][name]
    assert parameter["type"] == "SecureString" and "defaultValue" not in parameter
    assert definition["actions"]["Invite_guest"]["runtimeConfiguration"]["secureData"]["properties"] == ["inputs"]


def test_logic_apps_default_retry_policy_is_kept(definition):
    # No retryPolicy means the Default policy: exponential, 4 retries on 408/429/5xx (exception-handling docs).
    assert "retryPolicy" not in definition["actions"]["Invite_guest"]["inputs"]


def test_the_switch_sees_failed_calls_and_branches_on_201_and_200(definition):
    switch = definition["actions"]["Route_on_status"]
    assert switch["type"] == "Switch"
    assert {"Succeeded", "Failed"} <= set(switch["runAfter"]["Invite_guest"])  # 4xx answers fail the HTTP action
    assert sorted(case["case"] for case in switch["cases"].values()) == [200, 201, 401, 404]
    for case in switch["cases"].values():
        responses = [action for action in case["actions"].values() if action["type"] == "Response"]
        assert len(responses) == 1
        if case["case"] in (200, 201):
            assert responses[0]["inputs"]["body"]["userId"] == "@body('Invite_guest')?['userId']"


def test_the_problem_branch_reads_title_detail_and_errors(definition):
    branch = definition["actions"]["Route_on_status"]["default"]["actions"]["Is_a_problem_the_caller_can_fix"]
    parse, respond = branch["actions"]["Parse_problem"], branch["actions"]["Respond_problem"]
    assert parse["type"] == "ParseJson"
    assert {"title", "detail", "errors", "status"} <= set(parse["inputs"]["schema"]["properties"])
    assert set(respond["inputs"]["body"]) >= {"title", "detail", "errors"}
    assert any(action["type"] == "Terminate" for action in branch["else"]["actions"].values())


def test_the_trigger_schema_lists_exactly_the_api_fields(definition):
    (trigger,) = definition["triggers"].values()
    schema = trigger["inputs"]["schema"]
    assert {name: spec["type"] for name, spec in schema["properties"].items()} == {
        field.name: field.type for field in INVITATION_FIELDS}
    assert schema["required"] == [field.name for field in INVITATION_FIELDS if field.required]


def test_every_reference_names_something_that_exists(definition):
    names = {name for name, _, _ in all_actions(definition["actions"])}
    for name, action, siblings in all_actions(definition["actions"]):
        assert set(action.get("runAfter", {})) <= set(siblings) - {name}, name
        assert action["type"] in {"Http", "Switch", "If", "Response", "ParseJson", "Terminate"}, name
    text = list(expressions(definition["actions"]))
    referenced = {match for line in text for match in re.findall(r"(?:body|outputs)\('(\w+)'\)", line)}
    assert referenced and referenced <= names
    parameters = {match for line in text for match in re.findall(r"parameters\('(\w+)'\)", line)}
    assert parameters == set(definition["parameters"])


# ---- routing: which steps run for each kind of answer (issue 16: a 401/404 has no JSON body to parse) -----------
STATUS = "@coalesce(outputs('Invite_guest')?['statusCode'], 0)"
CONTENT_TYPE = "@toLower(string(coalesce(outputs('Invite_guest')?['headers']?['Content-Type'], '')))"


def evaluate(condition: Any, answer: dict[str, Any]) -> Any:
    """The few workflow-language condition forms the example uses; anything else fails the test (so a change to
    the conditions must come with a change here)."""
    if isinstance(condition, int | bool):
        return condition
    if isinstance(condition, str):
        if not condition.startswith("@"):
            return condition
        return {STATUS: answer["status"], CONTENT_TYPE: answer["contentType"].lower()}[condition]
    ((operator, operands),) = condition.items()
    if operator == "not":
        return not evaluate(operands, answer)
    values = [evaluate(operand, answer) for operand in operands]
    return {"and": lambda: all(values), "equals": lambda: values[0] == values[1],
            "greaterOrEquals": lambda: values[0] >= values[1], "less": lambda: values[0] < values[1],
            "contains": lambda: values[1] in values[0]}[operator]()


def steps_run(definition: dict[str, Any], status: int, content_type: str) -> list[tuple[str, str]]:
    """(name, type) of every step after Invite_guest that runs for this answer, in order."""
    switch = definition["actions"]["Route_on_status"]
    assert switch["expression"] == STATUS
    answer = {"status": status, "contentType": content_type}
    actions = next((case["actions"] for case in switch["cases"].values() if case["case"] == status),
                   switch["default"]["actions"])
    run: list[tuple[str, str]] = []
    for name, action in actions.items():
        if action["type"] == "If":
            branch = action["actions"] if evaluate(action["expression"], answer) else action["else"]["actions"]
            run += [(inner, step["type"]) for inner, step in branch.items()]
        else:
            run.append((name, action["type"]))
    return run


@pytest.mark.parametrize(("status", "content_type"), [
    (401, ""),  # wrong or rotated function key: the host answers with no body
    (404, ""),  # wrong URL
    (403, "text/html"),  # a proxy or an access restriction, not the API
    (400, ""),
    (429, "application/problem+json"),  # still throttled after the retries
    (503, "application/problem+json"),
    (502, "application/problem+json"),  # Graph refused the app itself: the operator's problem
    (0, ""),  # timed out: no answer at all
])
def test_an_answer_without_a_problem_body_is_never_parsed_and_ends_the_run_failed(definition, status, content_type):
    run = steps_run(definition, status, content_type)
    types = [step_type for _, step_type in run]
    assert "ParseJson" not in types
    assert types.count("Response") == 1 and types[-1] == "Terminate"


def test_401_and_404_each_have_a_branch_that_names_the_parameter_to_fix(definition):
    key = steps_run(definition, 401, "")
    url = steps_run(definition, 404, "")
    assert key != url
    cases = {case["case"]: case["actions"] for case in definition["actions"]["Route_on_status"]["cases"].values()}
    assert "functionKey" in json.dumps(cases[401]) and "functionAppUrl" in json.dumps(cases[404])
    assert "body('Invite_guest')" not in json.dumps(cases[401]) + json.dumps(cases[404])


@pytest.mark.parametrize("status", [400, 403, 413, 415, 422])
def test_a_problem_answer_is_parsed_and_answered_with_its_status(definition, status):
    run = steps_run(definition, status, "application/problem+json; charset=utf-8")
    assert run == [("Parse_problem", "ParseJson"), ("Respond_problem", "Response")]


@pytest.mark.parametrize(("status", "name"), [(201, "Respond_invited"), (200, "Respond_existing_user")])
def test_success_answers_respond_with_the_user(definition, status, name):
    assert steps_run(definition, status, "application/json") == [(name, "Response")]
