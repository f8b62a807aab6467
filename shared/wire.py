"""The wire format, written once: strict JSON, queue bodies (plain or base64), the poison message (writer and
reader), UTC timestamps, and the queue names (a contract: docs/architecture.md "Queues")."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .problems import FieldError, Problem, invalid_request, problem_text

MEMBERSHIP_QUEUE = "group-memberships"
INVITATION_QUEUE = "guest-invitations"
NOTIFICATION_QUEUE = "sharepoint-notifications"
EXPIRING_QUEUE = "guest-expiring"  # reminders before a grant ends (docs/lifecycle.md)
POISON_SUFFIX = "-poison"


# ---- text for a terminal or a log --------------------------------------------------------------------------------
# Characters a terminal or a log viewer may take as a line break, a command or a reordering of the text: C1 controls
# (NEL is U+0085), DEL, U+2028/9, bidi embeddings/overrides/isolates, BOM. JSON output escapes C0 controls itself.
JSON_TEXT_ESCAPES = {code: f"\\u{code:04x}" for code in (0x7F, *range(0x80, 0xA0), 0x061C, 0x200E, 0x200F, 0x2028,
                                                         0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A),
                                                         0xFEFF)}
# Plain text also escapes C0 controls (ESC sequences, carriage returns, bells, line feeds inside one field).
TERMINAL_ESCAPES = {**{code: f"\\x{code:02x}" for code in range(0x20)}, **JSON_TEXT_ESCAPES}


def printable(text: str) -> str:
    """``text`` with every control, line-breaking or reordering character escaped, for one line of a terminal."""
    return text.translate(TERMINAL_ESCAPES)


def printable_json(text: str) -> str:
    """JSON text (whose C0 controls json.dumps already escaped) with the other unsafe characters escaped too; they
    occur only inside strings, so the result is the same JSON."""
    return text.translate(JSON_TEXT_ESCAPES)


# ---- strict JSON ------------------------------------------------------------------------------------------------
def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8, no duplicate member names (the last one would win silently), no NaN/Infinity, no
    unpaired surrogates. Raises the 400 invalid-request problem naming what is wrong."""
    duplicates: list[str] = []

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                duplicates.append(key)
            seen[key] = value
        return seen

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        text = body.decode("utf-8")
        if text.startswith("\ufeff"):
            text = text[1:]
        parsed = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
        # A \u escape of a lone surrogate is JSON grammar but not text: no answer, log or message could carry it
        # (a duplicate's error would even name it), so it is refused first.
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeDecodeError:
        raise invalid_request([FieldError("body", "is not valid UTF-8")]) from None
    except UnicodeEncodeError:
        raise invalid_request([FieldError("body", "holds a \\u escape of an unpaired surrogate, which is not text "
                                                  "(RFC 8259 section 8.2)")]) from None
    except (ValueError, RecursionError) as error:
        where = f" (line {error.lineno}, column {error.colno})" if isinstance(error, json.JSONDecodeError) else ""
        raise invalid_request([FieldError("body", f"is not valid JSON{where}")]) from None
    if duplicates:
        raise invalid_request([FieldError(name, "appears more than once") for name in dict.fromkeys(duplicates)])
    return parsed


def loose_json(body: bytes) -> Any:
    """Plain ``json.loads`` (for reading what others wrote: poison queues, the doctor's evidence)."""
    return json.loads(body)


# ---- queue bodies -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueBody:
    value: Any  # the parsed JSON, or None when the body is not JSON (plain or base64)
    encoding: str  # "plain", "base64" or "text" (not JSON)
    text: str  # the decoded text


def decode_queue_body(body: bytes | str, parse: Callable[[bytes], Any] = parse_json) -> QueueBody:
    """A queue body as JSON, plain first, else base64 of JSON: host.json says messageEncoding none, but producers
    that base64-encode (older SDKs, the portal) must work too. Raises what ``parse`` raises on the plain body when
    it is not base64 either, or what it raises on the decoded base64."""
    raw = body if isinstance(body, bytes) else body.encode("utf-8", errors="surrogatepass")
    try:
        return QueueBody(parse(raw), "plain", raw.decode("utf-8", errors="replace"))
    except (Problem, ValueError, RecursionError) as not_json:
        try:
            decoded = base64.b64decode(raw.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise not_json from None
        if not decoded:
            raise not_json from None
    return QueueBody(parse(decoded), "base64", decoded.decode("utf-8", errors="replace"))


def read_queue_body(body: bytes | str) -> QueueBody:
    """Like :func:`decode_queue_body` with plain ``json.loads``, never raising: a body that is not JSON comes back
    as its text (encoding "text")."""
    try:
        return decode_queue_body(body, loose_json)
    except (Problem, ValueError, RecursionError):
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        return QueueBody(None, "text", text)


# ---- the poison message -----------------------------------------------------------------------------------------
def poison_message(message: Any, error: dict[str, Any], attempts: int) -> str:
    """The app's poison envelope: ``{"message", "error", "attempts", "failedAt"}`` (read by :func:`is_poison_envelope`
    and shared.poison)."""
    return json.dumps({"message": message, "error": error, "attempts": attempts, "failedAt": utc_now()},
                      ensure_ascii=False)


def poison_error(problem: Problem, request_id: str) -> dict[str, Any]:
    """The poison ``error`` for a problem: Graph's own status, code, message and request-id when Graph answered,
    else the problem's; plus every bad field and the setting or permission to fix."""
    graph_error = problem.extensions.get("graphError") or {}
    error: dict[str, Any] = {
        "status": graph_error.get("status") or problem.status,
        "code": graph_error.get("code") or problem.kind,
        "message": problem_text(problem),
        "graphRequestId": graph_error.get("graphRequestId"),
        "problem": problem.type,
        "requestId": request_id,
    }
    if problem.errors:
        error["errors"] = [item.to_dict() for item in problem.errors]
    for name in ("requiredPermission", "settings", "credentialError", "blockedBy", "tokenCache"):
        if name in problem.extensions:
            error[name] = problem.extensions[name]
    return error


def is_poison_envelope(parsed: Any) -> bool:
    # An invitation body also has a "message" member, so require the envelope's own members as well.
    return (isinstance(parsed, dict) and "message" in parsed and "error" in parsed
            and ("failedAt" in parsed or "attempts" in parsed))


# ---- timestamps -------------------------------------------------------------------------------------------------
def utc_now() -> str:
    """Now, as ISO 8601 UTC to the second with a Z (the form SharePoint and Graph write)."""
    return utc_text(dt.datetime.now(dt.UTC))


def utc_text(moment: dt.datetime, *, milliseconds: bool = False) -> str:
    """ISO 8601 UTC with a Z, to the second (or to the millisecond: a time an age is measured from)."""
    if milliseconds:
        return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(value: Any) -> dt.datetime | None:
    """An ISO 8601 time (a trailing Z accepted); a time without a zone is taken as UTC; None when unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
