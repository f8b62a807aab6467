"""The invitation flow: look the person up by email, invite them if they are not in the directory yet (or
again, on request, while they have not redeemed), and build one membership message per group.

Graph's answers become :class:`~shared.problems.Problem` values here, because only the flow knows which call
failed and which permission it needs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from .credentials import CredentialError
from .graph import Budget, GraphClient, GraphError
from .problems import Problem
from .requests_model import InvitationRequest
from .settings import Settings

INVITE_ATTEMPTS = 3  # POSTs of one invitation whose answers were lost, each after a fresh lookup
PERMISSIONS = {"lookup": "User.Read.All", "invite": "User.Invite.All"}
PENDING = "PendingAcceptance"


@dataclass
class InvitationOutcome:
    status: int  # 201: this call created (sent) an invitation; 200: no invitation was created
    body: dict[str, Any]
    messages: list[str] = field(default_factory=list)  # for the group-memberships queue


def onboard(request: InvitationRequest, request_id: str, settings: Settings, graph: GraphClient,
            budget: Budget) -> InvitationOutcome:
    """Run the flow; raise Problem for anything Graph or the identity platform refuses or fails at."""
    operation = "lookup"
    try:
        user = _find_user(graph, request.email, budget, request_id)
        invitation = None
        if user is None or _should_resend(request, user):
            operation = "invite"
            invitation, user = _invite_once(graph, request, settings, budget, request_id)
    except GraphError as error:
        raise problem_from_graph(error, operation) from error
    except CredentialError as error:
        raise problem_from_credential(error) from error
    user_id = user["id"]
    messages = [json.dumps({"userId": user_id, "groupId": group_id, "email": request.email, "requestId": request_id})
                for group_id in request.group_ids]
    body = {
        "requestId": request_id,
        "email": request.email,
        "userId": user_id,
        "userType": user.get("userType") or (invitation or {}).get("invitedUserType"),
        "invited": invitation is not None,
        "invitationStatus": (invitation or {}).get("status") or user.get("externalUserState"),
        "inviteRedeemUrl": (invitation or {}).get("inviteRedeemUrl"),
        "groups": [{"groupId": group_id, "status": "queued"} for group_id in request.group_ids],
    }
    return InvitationOutcome(201 if invitation is not None else 200, body, messages)


def _should_resend(request: InvitationRequest, user: dict) -> bool:
    return request.resend_invitation and user.get("userType") == "Guest" and user.get("externalUserState") == PENDING


def _find_user(graph: GraphClient, email: str, budget: Budget, request_id: str) -> dict | None:
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


def _invite_once(graph: GraphClient, request: InvitationRequest, settings: Settings, budget: Budget,
                 request_id: str) -> tuple[dict | None, dict]:
    """POST the invitation. When its answer is lost (dropped connection, timeout, 5xx), look the person up again
    before any new POST, so a second email is never sent for an invitation Graph already applied."""
    body = invitation_body(request, settings)
    for attempt in range(1, INVITE_ATTEMPTS + 1):
        try:
            invitation = graph.invite(body, budget, request_id)
        except GraphError as error:
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
    raise AssertionError("unreachable")


def problem_from_graph(error: GraphError, operation: str) -> Problem:
    """Graph's refusal or failure as the HTTP answer the issue specifies (429/503 throttled or down, 422 the
    person is refused, 502 the app is refused)."""
    graph_error = {"graphError": error.to_dict()}
    if error.status == 429:
        return Problem(429, "graph-throttled", "Microsoft Graph is throttling this app",
                       "Graph asked us to slow down and the wait exceeds this call's budget; retry after the "
                       "Retry-After delay.", retry_after=_seconds(error.retry_after, 10), extensions=graph_error)
    if error.transient:
        return Problem(503, "graph-unavailable", "Microsoft Graph is unavailable",
                       "Graph failed or did not answer within this call's retry budget; retry later.",
                       retry_after=_seconds(error.retry_after, 30), extensions=graph_error)
    if error.status == 403 and "privileges" in error.message.lower():
        permission = PERMISSIONS[operation]
        return Problem(502, "graph-permission-missing", "The app lacks a Graph permission",
                       f"Graph refused the app: grant the application permission {permission} (admin consent).",
                       extensions={**graph_error, "requiredPermission": permission})
    if operation == "invite" and error.status in (400, 403):
        return Problem(422, "invitation-refused", "Graph refused to invite this person",
                       f"{error.code}: {error.message}", extensions=graph_error)
    return Problem(502, "graph-refused", "Microsoft Graph refused the app's request",
                   f"Graph answered {error.status} {error.code} to the {operation} call.", extensions=graph_error)


def problem_from_credential(error: CredentialError) -> Problem:
    extensions = {"credentialError": {"code": error.code, "message": error.message}}
    if error.transient:
        return Problem(503, "identity-unavailable", "The identity platform is unavailable",
                       "The app could not get a token for Graph; retry later.", retry_after=error.retry_after or 30,
                       extensions=extensions)
    return Problem(502, "credential-refused", "The app's credential was refused",
                   "The identity platform refused the app's credential; an operator must fix it.",
                   extensions=extensions)


def _seconds(value: float | None, default: int) -> int:
    return default if value is None else max(1, math.ceil(value))
