"""A guest's sponsors (Graph user ``sponsors``: MGDC api/user-post-sponsors.md; least privileged application
permission User.ReadWrite.All, which is why SPONSORS_ENABLED makes it opt-in; docs/lifecycle.md).

Sponsors are resolved before anything changes (a sponsor who does not exist or is a guest is a bad field: 400,
no invitation sent), then added after onboarding; "already a sponsor" is success, so a retried request is harmless.
"""

from __future__ import annotations

from .failures import problem_for
from .graph import CallBudget, GraphClient, GraphError
from .problems import FieldError, Problem, invalid_request, policy_refused

SPONSORS_FIX = ("set SPONSORS_ENABLED=true once the app holds User.ReadWrite.All "
                "(scripts/grant-graph-permissions.sh --sponsors)")


def sponsors_refused() -> Problem:
    """A request naming sponsors while SPONSORS_ENABLED is off: refused before anything changes, naming the fix."""
    return policy_refused([FieldError("sponsors", f"sponsors are not enabled: {SPONSORS_FIX}")], ["SPONSORS_ENABLED"])


def resolve_sponsors(graph: GraphClient, sponsors: tuple[str, ...], budget: CallBudget) -> list[str]:
    """Each sponsor's object id (a user id or UPN looked up: User.Read.All); raises the 400 naming each bad one."""
    ids: list[str] = []
    errors: list[FieldError] = []
    for index, key in enumerate(sponsors):
        try:
            user = graph.get_user(key, ("id", "userType"), budget)
        except GraphError as error:
            if error.status in (400, 404):
                errors.append(FieldError(f"sponsors[{index}]", "is not a user of this tenant"))
                continue
            raise problem_for(error, "lookup") from error
        if user.get("userType") == "Guest":
            errors.append(FieldError(f"sponsors[{index}]", "is a guest: a sponsor must be an internal user"))
            continue
        if user.get("id") and user["id"] not in ids:
            ids.append(str(user["id"]).lower())
    if errors:
        raise invalid_request(errors)
    return ids


def add_sponsors(graph: GraphClient, user_id: str, sponsor_ids: list[str], budget: CallBudget,
                 request_id: str | None) -> None:
    """POST each sponsor reference; "already exist" is done. A refusal becomes the failure policy's problem (a
    missing permission names User.ReadWrite.All)."""
    for sponsor_id in sponsor_ids:
        try:
            graph.add_sponsor(user_id, sponsor_id, budget, request_id)
        except GraphError as error:
            if error.status == 400 and "already exist" in error.message:
                continue
            if error.status == 404 and user_id.lower() in error.message.lower():
                raise Problem(503, "replication-lag", "The new guest is not visible yet",
                              "Graph does not see the guest yet (replication lag); retry shortly.", retry_after=5,
                              extensions={"graphError": error.to_dict()}) from error
            raise problem_for(error, "sponsors") from error
