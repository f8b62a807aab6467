"""Replication lag in every production wording is "retry" for the one failure policy (issue 13, item 8): a table
over each shape the simulator emulates (docs/simulator.md "Replication lag") plus the spelling variants public
threads show, judged by shared.failures.judge_membership; then the worker meeting them all in turn."""

from __future__ import annotations

import pytest

from shared.failures import Action, judge_membership
from shared.graph import GraphError
from simulator.graph import exceptions as sim_exceptions
from simulator.graph.models import PARTNERS_GROUP_ID

USER = "0e1f2a3b-0000-4000-8000-00000000abcd"
REFERENCES = "One or more added object references {} exist for the following modified properties: 'members'."


def _as_app_error(error) -> GraphError:
    return GraphError(error.status, error.code, error.message, "req-1")


SHAPES = {name: _as_app_error(make(USER)) for name, make in sim_exceptions.LAG_ANSWERS.items()}
VARIANTS = {
    "curly apostrophe": GraphError(400, "Request_BadRequest", REFERENCES.format("don\u2019t")),
    "does not exist": GraphError(400, "Request_BadRequest", REFERENCES.format("does not")),
    "upper case": GraphError(400, "Request_BadRequest", REFERENCES.format("DO NOT").upper()),
    "no longer valid reference": GraphError(400, "Request_BadRequest", "Not a valid reference update"),
    "code only": GraphError(404, "Directory_ObjectNotFound", ""),
}


def test_the_table_covers_every_shape_the_simulator_emulates():
    assert set(SHAPES) == {"not-found", "do-not-exist", "dont-exist", "not-valid-reference",
                           "directory-object-not-found"}


@pytest.mark.parametrize("error", [*SHAPES.values(), *VARIANTS.values()], ids=[*SHAPES, *VARIANTS])
def test_every_lag_wording_is_a_retry(error):
    verdict = judge_membership(error, PARTNERS_GROUP_ID)
    assert verdict.action is Action.RETRY and verdict.lag


@pytest.mark.parametrize("error", [
    GraphError(400, "Request_BadRequest", "Invalid object identifier 'x'."),
    GraphError(404, "Request_ResourceNotFound", f"Resource '{PARTNERS_GROUP_ID}' does not exist or one of its "
                                                "queried reference-property objects are not present."),
    GraphError(400, "Request_BadRequest", "Guests users are not allowed to join this Unified Group."),
    GraphError(400, "Request_BadRequest", "The resource does not exist in the exported properties: 'members'."
               " Existing references are fine."),
], ids=["invalid id", "the group's 404", "guests not allowed", "no add reference"])
def test_what_is_not_lag_is_not_judged_lag(error):
    assert not judge_membership(error, PARTNERS_GROUP_ID).lag


def test_the_worker_rides_out_every_shape_in_turn_and_adds_the_guest(app):
    app.configure(simulated_waits=True)
    app.sim.graph.set_lag_answers("all")
    app.sim.replication_lag = 300
    answer = app.invite({"email": "lena@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    _, poison = app.deliver_until_settled(answer.messages[0])
    assert poison is None  # no shape was judged permanent
    assert answer.body["userId"] in app.sim.graph.members_of(PARTNERS_GROUP_ID)
    assert app.sim.stats.count(service="graph", method="POST", path=r"/members/\$ref$") > 5  # met every shape
