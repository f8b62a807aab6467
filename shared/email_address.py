"""What counts as one email address Graph will accept for an invitation, and its normal form.

Rules (resources/invitation.md in microsoftgraph/microsoft-graph-docs-contrib, see cloud-facts): the local part
may not hold ``~ ! # $ % ^ & * ( ) + = [ ] { } \\ / | ; : " < > ? ,``; '.' and '-' not at its start or end;
'_' anywhere. On top of that, RFC 5321's lengths (local part 64, whole address 254) and a DNS domain name.

Unicode: the local part must be ASCII (Entra user names and UPNs cannot hold other characters, so Graph would
refuse it later with a less clear message); an internationalised domain is accepted and converted to its ASCII
("xn--") form, which is what the directory stores and what policy lists are matched against. The conversion is
UTS 46 non-transitional (IDNA 2008, as browsers and mail systems use it), not Python's built-in IDNA 2003 codec,
which maps ``straße.de`` to ``strasse.de``: another domain, so another person, and a way around a block list.
A label that mixes scripts (Latin with Cyrillic, say), or is written wholly in Cyrillic or Greek letters that
look Latin (Cyrillic letters spelling "apple"), is refused: such a domain is made to be mistaken for another
(UTS 39, "restriction levels"; the look-alike table below covers Latin's look-alikes, not all of Unicode's
confusables).
"""

from __future__ import annotations

import re
import unicodedata

import idna

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
    normal_domain, why = ascii_domain(domain)
    if why:
        return None, f"the domain after '@' {why}"
    address = f"{local}@{normal_domain}"
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


# UTS 39's "highly restrictive" level: one script per label, or Latin with the scripts Japanese, Chinese and
# Korean text combine.
_ALLOWED_SCRIPT_MIXES = ({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}, {"LATIN", "HAN", "BOPOMOFO"},
                         {"LATIN", "HAN", "HANGUL"})
# Cyrillic and Greek letters drawn like Latin ones: a label made only of these reads as a Latin word.
_LATIN_LOOKALIKES = frozenset("аеорсухіјѕԁһԛԝӏүвкмнтгпАВЕКМНОРСТУХІЈЅαοικνρτυχεβγΑΒΕΖΗΙΚΜΝΟΡΤΥΧ")


def _script(char: str) -> str | None:
    if not char.isalpha():
        return None  # digits and '-' belong to every script
    name = unicodedata.name(char, "")
    first = name.split(" ", 1)[0]
    return "HAN" if first == "CJK" else first or None


def _script_problem(domain: str) -> str | None:
    for label in domain.split("."):
        if label.isascii():
            continue
        scripts = {script for script in map(_script, label) if script}
        if len(scripts) > 1 and not any(scripts <= allowed for allowed in _ALLOWED_SCRIPT_MIXES):
            return f"mixes scripts ({', '.join(sorted(scripts)).lower()}) in one label"
        letters = [char for char in label if char.isalpha()]
        if letters and all(char in _LATIN_LOOKALIKES for char in letters):
            return "is written in letters that imitate Latin ones (a look-alike domain)"
    return None


def ascii_domain(domain: str) -> tuple[str, str | None]:
    """``(the ASCII form directory and policy compare, None)``, or ``("", why not)``."""
    if not domain:
        return "", "is empty"
    if not domain.isascii():
        try:
            unicode_domain = idna.decode(idna.encode(domain, uts46=True, transitional=False))
            ascii_domain = idna.encode(unicode_domain).decode("ascii").lower()
        except (idna.IDNAError, UnicodeError):
            return "", "is not a valid internationalised domain name (IDNA 2008 / UTS 46)"
        why = _script_problem(unicode_domain)
        if why:
            return "", why
    else:
        ascii_domain = domain.lower()
        if "xn--" in ascii_domain:  # already encoded: judge what it spells, or it is a way round the check above
            try:
                why = _script_problem(idna.decode(ascii_domain))
            except (idna.IDNAError, UnicodeError):
                return "", "holds an 'xn--' label that is not valid IDNA 2008"
            if why:
                return "", why
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return "", "is not a valid domain name (e.g. fabrikam.com)"
    if labels[-1].isdigit():
        return "", "must be a domain name, not an IP address"
    if len(ascii_domain) > 253:
        return "", "is too long"
    return ascii_domain, None


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[1].lower()
