"""The one intake pipeline: validate -> settings -> policy -> onboard, for every door that takes an invitation
request (the HTTP API, the guest-invitations queue, a SharePoint row, a bulk row, the CLI).

It returns plain data, :class:`Admitted` or :class:`Refused` (with the failure policy's verdict); it knows nothing
of HTTP statuses, queue messages or rows: each door renders the result in its own medium.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import app_context
from .access import access_until
from .failures import Verdict, judge
from .graph import GraphClient
from .lag import new_to_writes
from .logging_setup import log_event
from .onboarding import Onboarded, onboard
from .policy import check_policy
from .problems import invalid_request
from .requests_model import InvitationRequest, validate_invitation
from .settings import Settings, SettingsError
from .sponsors import add_sponsors, resolve_sponsors, sponsors_refused
from .wire import utc_text


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Admitted:
    request: InvitationRequest
    request_id: str
    person: Onboarded
    log_pii: bool = False
    until: dt.datetime | None = None  # the end of the group access (shared.access), None for no end
    # When the person became new to the directory: invited by this request, or found but created moments ago
    # (shared.lag.new_to_writes); None for anyone else. Their memberships wait the learned replication delay.
    invited_at: dt.datetime | None = None

    def membership_messages(self, source: dict[str, Any] | None = None) -> list[str]:
        """One group-memberships message per group (``source``: the producer's object, given back in the outcome).
        With an end, ``accessUntil`` is on each message: the membership worker records the grant."""
        return [json.dumps(_membership(self, group_id, source)) for group_id in self.request.group_ids]


@dataclass(frozen=True)
class Refused:
    request_id: str
    verdict: Verdict
    request: InvitationRequest | None = None
    log_pii: bool = False

    @property
    def problem(self) -> Any:
        return self.verdict.problem


IntakeResult = Admitted | Refused


def intake(body: Any, request_id: str, settings: Callable[[], Settings], graph: Callable[[], GraphClient],
           budget_seconds: float, now: Callable[[], dt.datetime] = _utcnow) -> IntakeResult:
    """Take one request body (parsed JSON): validate it, then :func:`admit` it. ``request_id`` is the door's; the
    body's own ``requestId`` wins."""
    request, errors = validate_invitation(body)
    if errors:
        return Refused(request_id, judge(invalid_request(errors)), request)
    return admit(request, request.request_id or request_id, settings, graph, budget_seconds, now)


def admit(request: InvitationRequest, request_id: str, settings: Callable[[], Settings],
          graph: Callable[[], GraphClient], budget_seconds: float,
          now: Callable[[], dt.datetime] = _utcnow) -> IntakeResult:
    """A valid request through settings, policy and the flow. The settings and the Graph client are asked for only
    when needed (a refused request never builds a token provider)."""
    log_pii = False
    try:
        current = settings()
        log_pii = current.log_pii
        refusal = check_policy(current, request.email, request.group_ids, request.cc_recipients,
                               request.redirect_url)
        if refusal:
            return Refused(request_id, judge(refusal), request, log_pii)
        until = access_until(request, current, now())  # a refused period changes nothing: checked before Graph
        if request.sponsors and not current.sponsors_enabled:
            return Refused(request_id, judge(sponsors_refused()), request, log_pii)
        client = graph()
        budget = client.budget(budget_seconds)
        sponsor_ids = resolve_sponsors(client, request.sponsors, budget) if request.sponsors else []
        # The claim store is the process's (app_context): every door reaches it here, so none can forget it.
        person = onboard(request, request_id, current, client, budget, app_context.current().claims(), now)
        if sponsor_ids:
            add_sponsors(client, person.user_id, sponsor_ids, budget, request_id)
    except SettingsError as error:
        log_event("settings.invalid", level=logging.ERROR, requestId=request_id, settings=error.problems)
        return Refused(request_id, judge(error), request, log_pii)
    except Exception as error:
        verdict = judge(error)
        if verdict.problem is not None and verdict.problem.kind == "internal-error":
            # a bug: logged whole here, once for every door; each door answers with the requestId
            log_event("intake.bug", level=logging.ERROR, requestId=request_id, exc_info=True)
        return Refused(request_id, verdict, request, log_pii)
    moment = now()
    new_at = moment if person.invited else new_to_writes(person.created_at, moment)
    return Admitted(request, request_id, person, log_pii, until, new_at)


def _membership(admitted: Admitted, group_id: str, source: dict[str, Any] | None) -> dict[str, Any]:
    message: dict[str, Any] = {"userId": admitted.person.user_id, "groupId": group_id,
                               "email": admitted.request.email, "requestId": admitted.request_id}
    if admitted.until is not None:
        message["accessUntil"] = utc_text(admitted.until)
        if admitted.person.invited:  # offboarding acts only on guests this app invited (docs/lifecycle.md)
            message["invitedByApp"] = True
    if admitted.invited_at is not None:  # new to the directory: the worker waits the learned delay (shared.lag),
        message["newGuest"] = True      # measured from this moment, whenever it runs
        message["invitedAt"] = utc_text(admitted.invited_at, milliseconds=True)
    if source is not None:
        message["source"] = source
    return message
