"""Who may be invited and into which groups: ALLOWED/BLOCKED_EMAIL_DOMAINS and ALLOWED_GROUP_IDS; who may be added
to a group by a group-memberships message: guests only unless ALLOW_MEMBER_USERS, on domains the policy allows.

Domain patterns: ``fabrikam.com`` matches that domain only; ``*.fabrikam.com`` matches its subdomains
(``eu.fabrikam.com``), not ``fabrikam.com`` itself (list both to allow both). Blocked wins over allowed.
Group ids: ``*`` allows any group; an empty or unset ALLOWED_GROUP_IDS allows none (the secure default).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from .email_address import ascii_domain, domain_of
from .problems import FieldError, Problem, policy_refused
from .settings import Settings


def domain_matches(domain: str, pattern: str) -> bool:
    domain, pattern = domain.lower(), pattern.lower()
    if pattern.startswith("*."):
        return domain.endswith(pattern[1:])
    return domain == pattern


def _first_match(domain: str, patterns: Iterable[str]) -> str | None:
    return next((pattern for pattern in patterns if domain_matches(domain, pattern)), None)


def check_policy(settings: Settings, email: str, group_ids: Iterable[str],
                 cc_recipients: Iterable[str] = (), redirect_url: str | None = None) -> Problem | None:
    """A 403 problem naming each refused domain, group or redirect host and the setting that governs it, or None.
    A cc recipient receives the invitation email too, so it meets the same domain rules as the person invited; the
    redirect URL is where the guest's browser goes after redeeming, so only hosts the operator allows."""
    errors: list[FieldError] = []
    governing: set[str] = set()
    if redirect_url:
        host = (urlsplit(redirect_url).hostname or "").lower()
        if not _first_match(host, settings.allowed_redirect_hosts):
            errors.append(FieldError("redirectUrl", f"the host {host[:253]} is not in the allowed redirect hosts"))
            governing.add("ALLOWED_REDIRECT_HOSTS")
    addresses = [("email", email), *((f"ccRecipients[{i}]", cc) for i, cc in enumerate(cc_recipients))]
    for name, address in addresses:
        refusal = _domain_refusal(settings, domain_of(address))
        if refusal:
            errors.append(FieldError(name, refusal[0]))
            governing.add(refusal[1])
    refused_groups = [
        (index, group_id) for index, group_id in enumerate(group_ids)
        if not settings.allow_any_group and group_id not in settings.allowed_group_ids
    ]
    for index, group_id in refused_groups:
        errors.append(FieldError(f"groupIds[{index}]", f"group {group_id} is not in the allowed groups"))
    if refused_groups:
        governing.add("ALLOWED_GROUP_IDS")
    order = ("BLOCKED_EMAIL_DOMAINS", "ALLOWED_EMAIL_DOMAINS", "ALLOWED_GROUP_IDS", "ALLOWED_REDIRECT_HOSTS")
    return policy_refused(errors, [name for name in order if name in governing]) if errors else None


def check_member_policy(settings: Settings, user: dict[str, Any]) -> Problem | None:
    """A 403 problem when the user a group-memberships message names may not be added: not a guest (userType
    Member, or none) unless ALLOW_MEMBER_USERS; or any of their addresses (mail, otherMails; else the address a
    guest's #EXT# userPrincipalName encodes) on a domain the invitation policy refuses. Any system may write that
    queue, so the worker applies the rules the doors apply."""
    errors: list[FieldError] = []
    governing: list[str] = []
    user_type = user.get("userType")
    if user_type != "Guest" and not settings.allow_member_users:
        shown = user_type if isinstance(user_type, str) else "none"
        errors.append(FieldError("userId", f"the user is not a guest (userType {shown[:20]}); this app adds only "
                                           "guests unless ALLOW_MEMBER_USERS is true"))
        governing.append("ALLOW_MEMBER_USERS")
    for domain in _user_domains(user):
        refusal = _domain_refusal(settings, domain)
        if refusal:
            errors.append(FieldError("userId", f"the user's address: {refusal[0]}"))
            if refusal[1] not in governing:
                governing.append(refusal[1])
    return policy_refused(errors, governing) if errors else None


def user_addresses(user: dict[str, Any]) -> list[str]:
    """A directory user's email addresses: mail and otherMails; else the address a guest's #EXT#
    userPrincipalName encodes (local_domain#EXT#@tenant), or a member's UPN, which is its own address."""
    addresses = [a for a in [user.get("mail"), *(user.get("otherMails") or [])] if isinstance(a, str) and "@" in a]
    upn = user.get("userPrincipalName")
    if not addresses and isinstance(upn, str):
        external = upn.upper().find("#EXT#")
        if external > 0 and "_" in upn[:external]:
            local, _, domain = upn[:external].rpartition("_")
            addresses = [f"{local}@{domain}"]
        elif "@" in upn:
            addresses = [upn]
    return addresses


def _user_domains(user: dict[str, Any]) -> list[str]:
    domains: list[str] = []
    for address in user_addresses(user):
        domain = domain_of(address)
        if not domain.isascii():  # the UTS 46 form the settings hold, or a listed IDN would never match
            domain = ascii_domain(domain)[0] or domain
        if domain not in domains:
            domains.append(domain)
    return domains


def _domain_refusal(settings: Settings, domain: str) -> tuple[str, str] | None:
    """(why, the governing setting) when ``domain`` may not receive an invitation, else None."""
    blocked = _first_match(domain, settings.blocked_email_domains)
    if blocked:
        return f"the domain {domain} is blocked (matches {blocked!r})", "BLOCKED_EMAIL_DOMAINS"
    if settings.allowed_email_domains and not _first_match(domain, settings.allowed_email_domains):
        return f"the domain {domain} is not in the allowed domains", "ALLOWED_EMAIL_DOMAINS"
    return None
