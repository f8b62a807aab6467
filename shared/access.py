"""How long a request's group access lasts: THE rule joining the request's ``accessUntil`` / ``accessDays`` with the
settings DEFAULT_ACCESS_DAYS and MAX_ACCESS_DAYS (docs/lifecycle.md).

- ``accessUntil`` wins, else ``accessDays`` from now, else DEFAULT_ACCESS_DAYS from now, else no end (as before
  this feature: nothing expires).
- An end in the past, or beyond MAX_ACCESS_DAYS from now, is refused as a bad field (400, nothing changes): a
  caller asking for more than the operator allows learns it instead of getting less silently.
- With MAX_ACCESS_DAYS set, a request without any end gets MAX_ACCESS_DAYS (no request may outlast the maximum).
"""

from __future__ import annotations

import datetime as dt

from .problems import FieldError, Problem, invalid_request
from .requests_model import InvitationRequest
from .settings import Settings


def access_until(request: InvitationRequest, settings: Settings, now: dt.datetime) -> dt.datetime | None:
    """The end of the access this request asks for (UTC, to the second), or None for no end; raises the 400
    invalid-request problem naming the field when the request asks for an end the settings do not allow."""
    field = "accessUntil" if request.access_until is not None else "accessDays"
    if request.access_until is not None:
        until = request.access_until
    elif request.access_days is not None:
        until = now + dt.timedelta(days=request.access_days)
    elif settings.default_access_days is not None:
        until = now + dt.timedelta(days=settings.default_access_days)
    elif settings.max_access_days is not None:
        until = now + dt.timedelta(days=settings.max_access_days)
    else:
        return None
    until = until.astimezone(dt.UTC).replace(microsecond=0)
    if until <= now:
        raise _refused(field, "is in the past: access must end after now")
    if settings.max_access_days is not None and until > now + dt.timedelta(days=settings.max_access_days, minutes=5):
        # five minutes of slack: a caller computing "now + MAX days" on its own clock is not refused for skew
        raise _refused(field, f"is more than MAX_ACCESS_DAYS ({settings.max_access_days}) days from now")
    return until


def _refused(field: str, message: str) -> Problem:
    return invalid_request([FieldError(field, message)])
