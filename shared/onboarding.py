"""The invitation flow: look the person up by email, invite them if they are not in the directory yet (or
again, on request, while they have not redeemed), and build one membership message per group.

Graph's answers become the failure policy's problems here (shared.failures), because only the flow knows which
call failed and which permission it needs. The result is plain data: each door renders it in its own medium.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .claims import ClaimStore, invite_once
from .credentials import CredentialError
from .failures import problem_for
from .graph import CallBudget, GraphClient, GraphError
from .requests_model import InvitationRequest
from .settings import Settings
from .wire import parse_utc

INVITE_ATTEMPTS = 3  # POSTs of one invitation whose answers were lost, each after a fresh lookup
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
            budget: CallBudget, claims: ClaimStore | None = None) -> Onboarded:
    """Run the flow; raise the catalogue's Problem (shared.failures) for anything Graph or the identity platform
    refuses or fails at: only the flow knows which call failed, hence which permission it needs.

    A person the lookup did not find is invited under the address's claim (shared.claims), so racing requests
    from any door or instance send one invitation and answer with its userId; ``claims`` None: no claim (no
    storage configured)."""
    operation = "lookup"
    try:
        user = _find_user(graph, request.email, budget, request_id)
        invitation = None
        if user is None:
            operation = "invite"
            invitation, user = invite_once(
                claims, request.email, request_id, settings.invite_claim_seconds, budget.remaining,
                lambda: _find_user(graph, request.email, budget, request_id),
                lambda: _invite_once(graph, request, settings, budget, request_id))
        elif _should_resend(request, user):
            operation = "invite"
            invitation, user = _invite_once(graph, request, settings, budget, request_id)
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
                 request_id: str) -> tuple[dict | None, dict]:
    """POST the invitation. When its answer is lost (dropped connection, timeout, 5xx), look the person up again
    before any new POST, so a second email is never sent for an invitation Graph already applied. A failure after
    a lost answer is raised as ambiguous whatever its own kind (a later 503, a failed lookup): this call may have
    invited, so the claim on the address is kept until it expires (shared/claims.py) and the next taker looks up
    first, instead of being freed for an immediate second POST."""
    uncertain = False
    try:
        body = invitation_body(request, settings)
        for attempt in range(1, INVITE_ATTEMPTS + 1):
            try:
                invitation = graph.invite(body, budget, request_id)
            except GraphError as error:
                uncertain = uncertain or error.ambiguous
                if not error.ambiguous or attempt == INVITE_ATTEMPTS:
                    raise
                user = _find_user(graph, request.email, budget, request_id)
                if user is not None and not request.resend_invitation:
                    return None, user  # applied after all: answer as for an existing user (no second email)
                if user is not None:
                    raise  # a resend whose fate is unknown: do not risk a third email; the caller may retry
                delay = graph.backoff(attempt)
                if delay > budget.remaining():
                    raise
                graph.sleep(delay)
                continue
            invited_user = invitation.get("invitedUser") or {}
            return invitation, {"id": invited_user.get("id"), "userType": invitation.get("invitedUserType", "Guest"),
                                "externalUserState": invitation.get("status")}
    except GraphError as error:
        error.ambiguous = error.ambiguous or uncertain
        raise
    raise AssertionError("unreachable")
