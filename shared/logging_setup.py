"""Structured, PII-masked log records through the standard logging module.

The Functions host forwards each record's message to Application Insights (as a trace with its level and
category), so the fields travel inside the message as JSON: ``"invite.done {"requestId": …, "outcome": …}"``.
They are also attached as ``extra={"custom_dimensions": …}`` for handlers that read them (OpenTelemetry /
azure-monitor exporters). Email addresses in any field are masked (``a***@fabrikam.com``) unless LOG_PII=true.
Tokens, secrets, keys and certificate passwords are never passed here.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from typing import Any

LOGGER_NAME = "guest_onboarding"
_EMAIL = re.compile(r"([A-Za-z0-9._%+'`-])[A-Za-z0-9._%+'`-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")

logger = logging.getLogger(LOGGER_NAME)


def mask_email(text: str) -> str:
    """``alice@fabrikam.com`` → ``a***@fabrikam.com``, for every address found in ``text``."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


def _scrub(value: Any, log_pii: bool) -> Any:
    if isinstance(value, str):
        return value if log_pii else mask_email(value)
    if isinstance(value, dict):
        return {key: _scrub(item, log_pii) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, log_pii) for item in value]
    return value


def log_event(event: str, *, level: int = logging.INFO, log_pii: bool = False, exc_info: bool = False,
              **fields: Any) -> None:
    """One structured record: ``event`` names what happened (``invite.done``), ``fields`` carry the details.
    ``exc_info`` adds the exception being handled (masked like the fields unless ``log_pii``)."""
    if not logger.isEnabledFor(level):
        return
    if exc_info and not log_pii:
        # The traceback quotes exception messages (Graph's, a library's), which may hold an address: it travels
        # masked, as a field, instead of as the record's exc_info (which no one could mask downstream).
        fields["exception"] = traceback.format_exc()
        exc_info = False
    dimensions = {key: value for key, value in _scrub(fields, log_pii).items() if value is not None}
    logger.log(level, "%s %s", event, json.dumps(dimensions, default=str, ensure_ascii=False, sort_keys=True),
               extra={"custom_dimensions": {"event": event, **dimensions}}, exc_info=exc_info)
