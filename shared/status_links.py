"""Status links: a URL that authorises itself for ONE invitation's status record, for a limited time, without the
function key (docs/logic-apps.md "Waiting for the memberships").

Why: with ``Prefer: respond-async`` the API answers 202 with ``Location``; Logic Apps and Power Automate then poll
that URL with a plain GET that does NOT carry the headers typed into the HTTP action (a key in ``x-functions-key``
does not follow; Azure/logicapps#611). Putting the function key in the URL (``?code=``) would hand out a key that
also invites guests. So the link carries its own credential, as Durable Functions' status URLs do:

    https://<app>/api/invitations/<requestId>/status?expires=<unix seconds>&sig=<HMAC-SHA256, base64url>

``sig`` is HMAC-SHA256 over ``"<requestId>\\n<expires>"`` with a 32-byte key the app generated and keeps in its own
status table (shared.status.StatusStore.link_key: every instance shares it; no app setting holds it; deleting the
entity rotates it). It proves the app issued the link for this id and not after ``expires``; it grants reading that
one record and nothing else. Links live as long as the record (shared.status.RETENTION_DAYS).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote, urlsplit

from .status import RETENTION_DAYS

LINK_LIFETIME_SECONDS = RETENTION_DAYS * 86400


def signature(key: bytes, request_id: str, expires: int) -> str:
    digest = hmac.new(key, f"{request_id}\n{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def status_link(base_url: str, request_id: str, key: bytes, now: float | None = None) -> str:
    """The signed link for ``request_id``; ``base_url`` is scheme://host[:port] of the app as the caller reached it."""
    expires = int((time.time() if now is None else now) + LINK_LIFETIME_SECONDS)
    return (f"{base_url}/api/invitations/{quote(request_id, safe='')}/status"
            f"?expires={expires}&sig={signature(key, request_id, expires)}")


def valid(key: bytes, request_id: str, expires: str | None, sig: str | None, now: float | None = None) -> bool:
    """True when ``sig`` is this app's signature of ``request_id`` and ``expires`` is not past (constant-time)."""
    if not expires or not sig or len(expires) > 12 or not expires.isascii() or not expires.isdigit():
        return False
    if int(expires) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature(key, request_id, int(expires)), sig)


def base_url_of(url: str) -> str:
    """scheme://host[:port] of a request URL (the host as the Functions host received it)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
