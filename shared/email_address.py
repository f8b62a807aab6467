"""What counts as one email address Graph will accept for an invitation, and its normal form.

Rules (resources/invitation.md in microsoftgraph/microsoft-graph-docs-contrib, see cloud-facts): the local part
may not hold ``~ ! # $ % ^ & * ( ) + = [ ] { } \\ / | ; : " < > ? ,``; '.' and '-' not at its start or end;
'_' anywhere. On top of that, RFC 5321's lengths (local part 64, whole address 254) and a DNS domain name.

Unicode: the local part must be ASCII (Entra user names and UPNs cannot hold other characters, so Graph would
refuse it later with a less clear message); an internationalised domain is accepted and converted to its ASCII
(IDNA, "xn--") form, which is what the directory stores and what policy lists are matched against.
"""

from __future__ import annotations

import re

MAX_LENGTH = 254
MAX_LOCAL_LENGTH = 64
REFUSED_LOCAL_CHARACTERS = frozenset('~!#$%^&*()+=[]{}\\/|;:"<>?,')
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def check_email(value: str) -> tuple[str | None, str | None]:
    """``(normal form, None)`` for a valid address, ``(None, why not)`` otherwise."""
    if any(ch.isspace() for ch in value):
        return None, "must be one email address, without spaces"
    if value.count("@") != 1:
        return None, "must be one email address (exactly one '@')"
    local, domain = value.split("@")
    why = _local_part_problem(local)
    if why:
        return None, why
    ascii_domain, why = _ascii_domain(domain)
    if why:
        return None, why
    address = f"{local}@{ascii_domain}"
    if len(address) > MAX_LENGTH:
        return None, f"must be at most {MAX_LENGTH} characters"
    return address, None


def _local_part_problem(local: str) -> str | None:
    if not local:
        return "the part before '@' is empty"
    if len(local) > MAX_LOCAL_LENGTH:
        return f"the part before '@' must be at most {MAX_LOCAL_LENGTH} characters"
    if not local.isascii() or not local.isprintable():
        return "the part before '@' must be printable ASCII (Microsoft Entra user names cannot hold other characters)"
    refused = sorted(set(local) & REFUSED_LOCAL_CHARACTERS)
    if refused:
        return f"the part before '@' contains characters Graph refuses: {' '.join(refused)}"
    if local[0] in ".-" or local[-1] in ".-":
        return "the part before '@' must not start or end with '.' or '-'"
    if ".." in local:
        return "the part before '@' must not contain '..'"
    return None


def _ascii_domain(domain: str) -> tuple[str, str | None]:
    if not domain:
        return "", "the domain after '@' is empty"
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower() if not domain.isascii() else domain.lower()
    except UnicodeError:
        return "", "the domain after '@' is not a valid (internationalised) domain name"
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return "", "the domain after '@' is not a valid domain name (e.g. fabrikam.com)"
    if labels[-1].isdigit():
        return "", "the domain after '@' must be a domain name, not an IP address"
    if len(ascii_domain) > 253:
        return "", "the domain after '@' is too long"
    return ascii_domain, None


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[1].lower()
