"""Structured, PII-masked log records through the standard logging module.

The Functions host forwards each record's message to Application Insights (as a trace with its level and
category), so the fields travel inside the message as JSON: ``"invite.done {"requestId": …, "outcome": …}"``.
Each field is also the record's own attribute (``extra``), which the OpenTelemetry handler makes a log attribute
and Application Insights a ``customDimensions`` entry (shared/telemetry.py): strings, numbers and booleans as they
are, lists and objects as JSON text, a name the LogRecord already uses (``name``, ``msg``…) prefixed ``field.``.
Email addresses in any field are masked (``a***@fabrikam.com``) unless LOG_PII=true.
Tokens, secrets, keys and certificate passwords are never passed here.

Fields may quote untrusted input (an unknown field name, a refused subscription id), so every step here is linear
in its input and what a record carries is bounded: a string field keeps its first ``MAX_FIELD_CHARS`` characters,
a list its first ``MAX_LIST_ITEMS`` items (each cut says how much it left out), and characters that split or
disguise a log line (C1 controls, NEL, line/paragraph separators, bidi overrides) are written as ``\\uXXXX``.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from typing import Any

from . import telemetry
from .wire import JSON_TEXT_ESCAPES

LOGGER_NAME = "guest_onboarding"
MAX_FIELD_CHARS = 512
MAX_LIST_ITEMS = 20
# Linear on any input: a match may start only where a run of local-part characters starts (the look-behind), and
# the possessive ``*+`` never gives characters back, so a long run without '@' is read once, not once per start.
_LOCAL = r"[A-Za-z0-9._%+'`-]"
_EMAIL = re.compile(rf"(?<!{_LOCAL})({_LOCAL}){_LOCAL}*+@([A-Za-z0-9.-]+\.[A-Za-z]{{2,}})")
# Characters a log viewer may take as a line break or that reorder text (one table: shared.wire). json.dumps already
# escapes C0 controls.
_LINE_BREAKERS = JSON_TEXT_ESCAPES

# Names a LogRecord already has: logging refuses them in ``extra``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

logger = logging.getLogger(LOGGER_NAME)

# The Azure SDKs' HttpLoggingPolicy writes every storage request's URL and headers, and its answer's, at INFO: at
# host.json's Information level that is two traces per storage request in Application Insights (the status record
# and the claim make 4 requests per onboarding) and ~0.45 ms of CPU per onboarding (docs/performance.md). Its
# warnings and errors still pass; a level somebody set on that logger before is kept.
AZURE_HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"
if logging.getLogger(AZURE_HTTP_LOGGER).level == logging.NOTSET:
    logging.getLogger(AZURE_HTTP_LOGGER).setLevel(logging.WARNING)


def mask_email(text: str) -> str:
    """``alice@fabrikam.com`` → ``a***@fabrikam.com``, for every address found in ``text``."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


def bounded(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    return text if len(text) <= limit else f"{text[:limit]}…(+{len(text) - limit} chars)"


def _scrub(value: Any, log_pii: bool) -> Any:
    if isinstance(value, str):
        value = bounded(value)  # cut first: masking then reads at most MAX_FIELD_CHARS characters
        return value if log_pii else mask_email(value)
    if isinstance(value, dict):
        items = list(value.items())
        scrubbed = {bounded(str(key), 64): _scrub(item, log_pii) for key, item in items[:MAX_LIST_ITEMS]}
        if len(items) > MAX_LIST_ITEMS:
            scrubbed["…"] = f"+{len(items) - MAX_LIST_ITEMS} more"
        return scrubbed
    if isinstance(value, list | tuple):
        scrubbed_items = [_scrub(item, log_pii) for item in value[:MAX_LIST_ITEMS]]
        if len(value) > MAX_LIST_ITEMS:
            scrubbed_items.append(f"…(+{len(value) - MAX_LIST_ITEMS} more)")
        return scrubbed_items
    return value


def log_event(event: str, *, level: int = logging.INFO, log_pii: bool = False, exc_info: bool = False,
              **fields: Any) -> None:
    """One structured record: ``event`` names what happened (``invite.done``), ``fields`` carry the details.
    ``exc_info`` adds the exception being handled (masked like the fields unless ``log_pii``)."""
    telemetry.ensure_configured()  # once per process: the handler must be there before the first record
    if not logger.isEnabledFor(level):
        return
    exception = None
    if exc_info and not log_pii:
        # The traceback quotes exception messages (Graph's, a library's), which may hold an address: it travels
        # masked, as a field, instead of as the record's exc_info (which no one could mask downstream). Its end
        # (the exception itself) matters most, so a long one keeps its last characters.
        trace = traceback.format_exc()
        exception = trace if len(trace) <= 4 * MAX_FIELD_CHARS else "…" + trace[-4 * MAX_FIELD_CHARS:]
        exc_info = False
    dimensions = {key: value for key, value in _scrub(fields, log_pii).items() if value is not None}
    if exception is not None:
        dimensions["exception"] = mask_email(exception)
    text = json.dumps(dimensions, default=str, ensure_ascii=False, sort_keys=True).translate(_LINE_BREAKERS)
    extra: dict[str, Any] = {"event": event}
    for key, value in dimensions.items():
        name = f"field.{key}" if key in _RECORD_ATTRIBUTES else key
        extra[name] = value if isinstance(value, str | int | float | bool) else json.dumps(
            value, default=str, ensure_ascii=False, sort_keys=True).translate(_LINE_BREAKERS)
    logger.log(level, "%s %s", event, text, extra=extra, exc_info=exc_info)
