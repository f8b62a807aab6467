"""POST /invitations: the request rules and what an invitation does to the directory
(MGDC api/invitation-post.md, resources/invitation.md; entra-docs external-id/customize-invitation-api.md)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import GraphError
from . import exceptions

if TYPE_CHECKING:
    from .models import GraphBackend

# resources/invitation.md: characters not permitted in the local part of invitedUserEmailAddress.
FORBIDDEN_LOCAL = set('~!#$%^&*()+=[]{}\\/|;:"<>?,')
STATUS_OF_STATE = {"Accepted": "Completed", "PendingAcceptance": "PendingAcceptance"}


@dataclass
class SentEmail:
    to: str
    cc: list[str]
    invitation_id: str
    user_id: str
    at: float  # simulated time
    repeat: bool = False  # sent for an invitation of a guest who already existed (see repeat_invitation_email)


def email_problem(address: str) -> str | None:
    """Why an invitee address is refused, or None."""
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain or domain.startswith(".") or domain.endswith(".") or " " in address:
        return "not an email address"
    if any(char in FORBIDDEN_LOCAL for char in local):
        return "a character not permitted in the local part"
    if local[0] in ".-" or local[-1] in ".-":
        return "'.' or '-' at the start or end of the local part"
    return None


def _require_text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise exceptions.bad_request(f"Required property '{name}' is missing.")
    if not isinstance(value, str):
        raise exceptions.bad_request(f"Invalid value for property '{name}'.")
    return value


def _cc_recipients(info: dict[str, Any]) -> list[str]:
    recipients = info.get("ccRecipients") or []
    if not isinstance(recipients, list) or len(recipients) > 1:
        # "Currently only 1 additional recipient is supported" (resources/invitedusermessageinfo.md).
        raise exceptions.bad_request("Currently only 1 additional recipient is supported.")
    addresses = []
    for recipient in recipients:
        address = ((recipient or {}).get("emailAddress") or {}).get("address") if isinstance(recipient, dict) else None
        if not isinstance(address, str) or email_problem(address):
            raise exceptions.bad_request("Invalid value for property 'ccRecipients'.")
        addresses.append(address)
    return addresses


def _rendered_cc(info: dict[str, Any]) -> list[dict[str, Any]]:
    # With no ccRecipients Graph answers one empty recipient (the example response in api/invitation-post.md);
    # given ones are echoed as sent.
    return info.get("ccRecipients") or [{"emailAddress": {"name": None, "address": None}}]


class InvitationRules:
    def __init__(self, backend: GraphBackend) -> None:
        self.backend = backend

    def invite(self, body: Any) -> dict[str, Any]:
        """Validate, then create (or find) the guest; returns the invitation resource Graph answers 201 with."""
        if not isinstance(body, dict):
            raise exceptions.unreadable_json()
        address = _require_text(body, "invitedUserEmailAddress").strip()
        redirect = _require_text(body, "inviteRedirectUrl")
        if email_problem(address):
            raise exceptions.bad_request("The specified email address is invalid.")
        user_type = body.get("invitedUserType") or "Guest"
        if user_type not in ("Guest", "Member"):
            raise exceptions.bad_request("Invalid value for property 'invitedUserType'.")
        send = body.get("sendInvitationMessage", False)
        reset = body.get("resetRedemption", False)
        if not isinstance(send, bool) or not isinstance(reset, bool):
            raise exceptions.bad_request("Invalid value for property 'sendInvitationMessage'.")
        info = body.get("invitedUserMessageInfo") or {}
        if not isinstance(info, dict):
            raise exceptions.bad_request("Invalid value for property 'invitedUserMessageInfo'.")
        cc = _cc_recipients(info)
        self._check_domain(address.rpartition("@")[2].lower())
        with self.backend.lock:
            known = self.backend.user_by_mail(address) is not None
            user, status, emailed = self._resolve_user(address, body, user_type, reset, send)
            invitation = self._render(body, address, redirect, user_type, send, reset, info, user, status)
            if emailed:
                # A custom body is dropped when an app's service principal sends it (entra-docs troubleshoot.md).
                self.backend.record_email(SentEmail(address, cc, invitation["id"], user["id"],
                                                    self.backend.sim.clock.now(), repeat=known and not reset))
            self.backend.invitations.append(invitation)
            return invitation

    def _check_domain(self, domain: str) -> None:
        if not self.backend.invitations_allowed:
            raise GraphError(403, "Authorization_RequestDenied",
                             "Guest invitations not allowed for your company. Contact your company administrator "
                             "for more details.")
        if domain in self.backend.verified_domains:
            raise exceptions.bad_request("This user cannot be invited because the domain of the user's email "
                                         "address is a verified domain of this directory.")
        if domain in self.backend.blocked_domains:
            raise GraphError(403, "Authorization_RequestDenied",
                             "This invitation is blocked by cross-tenant access settings. Admins in both your "
                             "organization and the invited user's organization must configure cross-tenant access "
                             "settings to allow the invitation.")

    def _resolve_user(self, address: str, body: dict[str, Any], user_type: str, reset: bool,
                      send: bool) -> tuple[dict[str, Any], str, bool]:
        backend = self.backend
        existing = backend.user_by_mail(address)
        if reset:
            wanted = ((body.get("invitedUser") or {}).get("id") or "").lower()
            if not existing or existing["id"] != wanted:
                raise exceptions.bad_request("resetRedemption requires invitedUser.id of the existing user.")
            backend.users[existing["id"]]["externalUserState"] = "PendingAcceptance"
            return backend.users[existing["id"]], "PendingAcceptance", send
        if existing is not None:
            if existing["userType"] == "Member" and existing["externalUserState"] is None:
                raise exceptions.bad_request(
                    f"The invited user already exists in the directory as objectID: {existing['id']}. They can use "
                    "that account to sign in to shared apps and resources.")
            # "If the user already exists in your resource directory, they won't receive an invitation."
            # (customize-invitation-api.md); whether Graph emails again is not documented: repeat_invitation_email.
            status = STATUS_OF_STATE.get(existing["externalUserState"] or "", "Completed")
            mode = backend.repeat_invitation_email
            again = mode == "always" or (mode == "pending" and existing["externalUserState"] == "PendingAcceptance")
            return existing, status, send and again
        user = backend.add_user(address, body.get("invitedUserDisplayName"), user_type=user_type,
                                other_mails=[address], external_user_state="PendingAcceptance",
                                creation_type="Invitation", replicated=False,
                                upn=f"{address.replace('@', '_')}#EXT#@{backend.sim.tenant_domain}")
        return user, "PendingAcceptance", send

    def _render(self, body: dict[str, Any], address: str, redirect: str, user_type: str, send: bool, reset: bool,
                info: dict[str, Any], user: dict[str, Any], status: str) -> dict[str, Any]:
        tenant = self.backend.sim.tenant_id
        ticket = uuid.uuid4().hex
        redeem = quote(f"https://invitations.microsoft.com/redeem/?tenant={tenant}&user={user['id']}"
                       f"&ticket={ticket}&ver=2.0", safe="").lower()
        return {
            "id": str(uuid.uuid4()),
            "inviteRedeemUrl": f"https://login.microsoftonline.com/redeem?rd={redeem}",
            "invitedUserDisplayName": body.get("invitedUserDisplayName"),
            "invitedUserType": user_type,
            "invitedUserEmailAddress": address,
            "sendInvitationMessage": send,
            "resetRedemption": reset,
            "inviteRedirectUrl": redirect,
            "status": status,
            "invitedUserMessageInfo": {
                "messageLanguage": info.get("messageLanguage"),
                "customizedMessageBody": info.get("customizedMessageBody"),
                "ccRecipients": _rendered_cc(info),
            },
            "invitedUser": {"id": user["id"]},
        }
