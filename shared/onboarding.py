"""The invitation flow: look the person up by email, invite them if they are not in the directory yet (or
again, on request, while they have not redeemed), and build one membership message per group.

Graph's answers become the failure policy's problems here (shared.failures), because only the flow knows which
call failed and which permission it needs. The result is plain data: each door renders it in its own medium.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .claims import ClaimStore, invite_once
from .credentials import CredentialError
from .failures import problem_for
from .graph import CallBudget, GraphClient, GraphError
from .logging_setup import log_event
from .requests_model import InvitationRequest
from .settings import Settings
from .wire import parse_utc, utc_text

# After a lost invitation answer: how long to look for the guest it may have created, and what is kept of the budget
# to answer (as a racer waits on a claim: shared.claims WAIT_SECONDS, WAIT_MARGIN_SECONDS).
LOST_ANSWER_WAIT_SECONDS = 10.0
LOST_ANSWER_MARGIN_SECONDS = 5.0
PENDING = "PendingAcceptance"


@dataclass(frozen=True)
class Onboarded:
    """The person after the flow: found or invited (``invited`` says whether this call sent an invitation)."""

    user_id: str
    invited: bool
    user_type: str | None
    invitation_status: str | None
    redeem_url: str | None
    created_at: dt.datetime | None = None  # the user's createdDateTime, when the lookup found them


def onboard(request: InvitationRequest, request_id: str, settings: Settings, graph: GraphClient,
            budget: CallBudget, claims: ClaimStore | None = None,
            now: Callable[[], dt.datetime] | None = None) -> Onboarded:
    """Run the flow; raise the catalogue's Problem (shared.failures) for anything Graph or the identity platform
    refuses or fails at: only the flow knows which call failed, hence which permission it needs.

    A person the lookup did not find is invited under the address's claim (shared.claims), so racing requests
    from any door or instance send one invitation and answer with its userId; ``claims`` None: no claim (no
    storage configured). ``now``: the door's clock, the moment a guest invited here was created (recorded on the
    claim for the requests that join it)."""
    operation = "lookup"

    def invite() -> tuple[dict | None, dict]:
        invitation, user = _invite_once(graph, request, settings, budget, request_id, resend=False)
        if invitation is not None and now is not None:
            user = {**user, "createdDateTime": utc_text(now(), milliseconds=True)}
        return invitation, user

    try:
        user = _find_user(graph, request.email, budget, request_id)
        invitation = None
        if user is None:
            operation = "invite"
            invitation, user = invite_once(
                claims, request.email, request_id, settings.invite_claim_seconds, budget.remaining,
                lambda: _find_user(graph, request.email, budget, request_id), invite)
        elif _should_resend(request, user):
            operation = "invite"
            invitation, user = _invite_once(graph, request, settings, budget, request_id, resend=True)
    except (GraphError, CredentialError) as error:
        raise problem_for(error, operation) from error
    invitation = invitation or {}
    return Onboarded(user["id"], bool(invitation), user.get("userType") or invitation.get("invitedUserType"),
                     invitation.get("status") or user.get("externalUserState"), invitation.get("inviteRedeemUrl"),
                     parse_utc(user.get("createdDateTime")))


def _should_resend(request: InvitationRequest, user: dict) -> bool:
    return request.resend_invitation and user.get("userType") == "Guest" and user.get("externalUserState") == PENDING


def _find_user(graph: GraphClient, email: str, budget: CallBudget, request_id: str) -> dict | None:
    users = graph.find_users_by_email(email, budget, request_id)
    # Several matches (an address in one user's mail and another's otherMails): prefer the exact mail match.
    users.sort(key=lambda user: (user.get("mail") or "").lower() != email.lower())
    return users[0] if users else None


def invitation_body(request: InvitationRequest, settings: Settings) -> dict[str, Any]:
    """The POST /invitations body (MGDC api/invitation-post.md). sendInvitationMessage is always explicit:
    Graph's default is false, ours is true."""
    body: dict[str, Any] = {
        "invitedUserEmailAddress": request.email,
        "inviteRedirectUrl": request.redirect_url or settings.invite_redirect_url,
        "sendInvitationMessage": request.send_invitation_message,
    }
    if request.display_name:
        body["invitedUserDisplayName"] = request.display_name
    info: dict[str, Any] = {}
    if request.message:
        info["customizedMessageBody"] = request.message
    if request.message_language:
        info["messageLanguage"] = request.message_language
    if request.cc_recipients:
        info["ccRecipients"] = [{"emailAddress": {"address": address}} for address in request.cc_recipients]
    if info:
        body["invitedUserMessageInfo"] = info
    return body


def _invite_once(graph: GraphClient, request: InvitationRequest, settings: Settings, budget: CallBudget,
                 request_id: str, *, resend: bool) -> tuple[dict | None, dict]:
    """POST the invitation, once. When its answer is lost (a dropped connection, a read timeout, a 5xx after sending:
    ``GraphError.ambiguous``) Graph may have invited, so this request never posts again: it looks the person up
    instead (:func:`_find_after_lost_answer`). Found: the answer an existing user gets (no second email). Not found
    (not created, or not replicated yet): the ambiguous failure is raised, so the address's claim is kept until it
    expires (shared.claims) and the caller is told to come back when a try can decide (shared.failures,
    ``invitation-unconfirmed``). A POST that never reached Graph is not ambiguous: the client has already tried it
    again (shared.graph.never_sent). A resend whose answer is lost is raised at once: its guest existed before, so
    a lookup cannot tell whether Graph resent."""
    try:
        invitation = graph.invite(invitation_body(request, settings), budget, request_id)
    except GraphError as error:
        if not error.ambiguous or resend:
            raise
        user = _find_after_lost_answer(graph, request.email, budget, request_id, error)
        if user is None:
            raise
        return None, user  # applied after all: answered as for an existing user
    invited_user = invitation.get("invitedUser") or {}
    return invitation, {"id": invited_user.get("id"), "userType": invitation.get("invitedUserType", "Guest"),
                        "externalUserState": invitation.get("status")}


def _find_after_lost_answer(graph: GraphClient, email: str, budget: CallBudget, request_id: str,
                            lost: GraphError) -> dict | None:
    """The person a lost POST may have invited: looked up at once, then again after the client's backoff while it
    fits in :data:`LOST_ANSWER_WAIT_SECONDS` and the budget (less :data:`LOST_ANSWER_MARGIN_SECONDS` to answer),
    since a new guest can stay invisible to lookups for a while (replication). A failing lookup raises ``lost``
    itself: what the caller must know is that the invitation's fate is unknown."""
    window = min(LOST_ANSWER_WAIT_SECONDS, max(0.0, budget.remaining() - LOST_ANSWER_MARGIN_SECONDS))
    stop_below = budget.remaining() - window  # budget.remaining() at the end of the window
    lookups = 0
    while True:
        lookups += 1
        try:
            user = _find_user(graph, email, budget, request_id)
        except (GraphError, CredentialError) as failure:
            log_event("invite.answer_lost", level=logging.WARNING, requestId=request_id, code=lost.code,
                      status=lost.status, lookups=lookups, outcome="lookup-failed",
                      error=f"{type(failure).__name__}: {str(failure)[:200]}")
            raise lost from failure
        delay = graph.backoff(lookups)
        if user is not None or budget.remaining() - delay < stop_below:
            log_event("invite.answer_lost", level=logging.WARNING, requestId=request_id, code=lost.code,
                      status=lost.status, lookups=lookups, outcome="found" if user else "not-found")
            return user
        graph.sleep(delay)
