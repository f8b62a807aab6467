"""POST /v1.0/$batch: ≤ 20 steps, unique ids, Content-Type with a body, per-step answers, dependsOn → 424."""

from __future__ import annotations

from simulator.graph.models import FALCON_GROUP_ID, PARTNERS_GROUP_ID, PENDING_GUEST_ID
from simulator.graph.throttling import Budget
from tests.simulator.graph_session import Graph, error_of, graph_as

JSON = {"Content-Type": "application/json"}


def add_step(step_id: str, group_id: str, user_id: str, **extra) -> dict:
    return {"id": step_id, "method": "POST", "url": f"/groups/{group_id}/members/$ref", "headers": JSON,
            "body": {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user_id}"}, **extra}


def by_id(response) -> dict[str, dict]:
    assert response.status_code == 200, response.text
    return {answer["id"]: answer for answer in response.json()["responses"]}


def test_batch_answers_each_step_with_its_own_status(sim):
    steps = [add_step("1", FALCON_GROUP_ID, PENDING_GUEST_ID),
             add_step("2", PARTNERS_GROUP_ID, "0b7d9f8e-0000-4000-8000-00000000dead"),
             {"id": "3", "method": "GET", "url": "/users?$filter=mail eq 'adele@fabrikam.com'&$select=id"}]
    answers = by_id(graph_as(sim).post("/$batch", {"requests": steps}))
    assert answers["1"]["status"] == 204 and "body" not in answers["1"]
    assert answers["2"]["status"] == 404 and answers["2"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert answers["3"]["body"]["value"] == [{"id": PENDING_GUEST_ID}]
    assert answers["2"]["headers"]["request-id"] == answers["2"]["body"]["error"]["innerError"]["request-id"]
    assert PENDING_GUEST_ID in sim.graph.members_of(FALCON_GROUP_ID)
    assert sim.stats.count(service="graph", route="groups.members.add") == 2


def test_failed_dependency_answers_424_and_is_not_run(sim):
    steps = [add_step("a", PARTNERS_GROUP_ID, "0b7d9f8e-0000-4000-8000-00000000dead"),
             add_step("b", FALCON_GROUP_ID, PENDING_GUEST_ID, dependsOn=["a"])]
    answers = by_id(graph_as(sim).post("/$batch", {"requests": steps}))
    assert answers["b"]["status"] == 424
    assert PENDING_GUEST_ID not in sim.graph.members_of(FALCON_GROUP_ID)


def test_more_than_twenty_steps_is_400(sim):
    steps = [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]
    response = graph_as(sim).post("/$batch", {"requests": steps})
    assert error_of(response) == (400, "BadRequest", "Number of batch request steps exceeds the maximum of 20.")


def test_duplicate_ids_are_400_case_insensitively(sim):
    steps = [{"id": "a1", "method": "GET", "url": "/users"}, {"id": "A1", "method": "GET", "url": "/users"}]
    assert error_of(graph_as(sim).post("/$batch", {"requests": steps}))[:2] == (400, "BadRequest")


def test_body_without_content_type_is_400_and_nothing_runs(sim):
    step = add_step("1", FALCON_GROUP_ID, PENDING_GUEST_ID)
    del step["headers"]
    response = graph_as(sim).post("/$batch", {"requests": [step]})
    assert error_of(response) == (400, "BadRequest",
                                  "Write request id : 1 does not contain Content-Type header or body.")
    assert PENDING_GUEST_ID not in sim.graph.members_of(FALCON_GROUP_ID)


def test_inner_requests_are_throttled_individually_with_retry_after(sim):
    sim.graph.limits["invitations"] = Budget(1, 5.0)
    steps = [{"id": str(i), "method": "POST", "url": "/invitations", "headers": JSON,
              "body": {"invitedUserEmailAddress": f"z{i}@fabrikam.example",
                       "inviteRedirectUrl": "https://myapps.microsoft.com"}} for i in range(2)]
    answers = by_id(graph_as(sim).post("/$batch", {"requests": steps}))
    assert [answers["0"]["status"], answers["1"]["status"]] == [201, 429]
    assert int(answers["1"]["headers"]["Retry-After"]) >= 1
    assert answers["1"]["body"]["error"]["code"] == "TooManyRequests"


def test_inner_requests_are_authorized_by_role(sim):
    steps = [{"id": "1", "method": "GET", "url": "/users"}, add_step("2", FALCON_GROUP_ID, PENDING_GUEST_ID)]
    answers = by_id(graph_as(sim, ["User.Read.All"]).post("/$batch", {"requests": steps}))
    assert answers["1"]["status"] == 200
    assert (answers["2"]["status"], answers["2"]["body"]["error"]["code"]) == (403, "Authorization_RequestDenied")


def test_inner_requests_get_injected_faults(sim):
    sim.faults.add(service="graph", method="GET", path=r"/users$", status=503, times=1)
    steps = [{"id": "1", "method": "GET", "url": "/users"}]
    answers = by_id(graph_as(sim).post("/$batch", {"requests": steps}))
    assert answers["1"]["status"] == 503


def test_batch_without_a_token_is_401(sim):
    response = Graph(sim, None).post("/$batch", {"requests": [{"id": "1", "method": "GET", "url": "/users"}]})
    assert error_of(response)[:2] == (401, "InvalidAuthenticationToken")
