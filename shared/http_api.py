"""``POST /api/invitations``: the HTTP door's rules (media type, size, JSON, request id) around the flow, and
every failure as an RFC 9457 problem. Nothing a caller can send produces a 500.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import runtime
from .credentials import CredentialError
from .logging_setup import log_event
from .onboarding import onboard, problem_from_credential
from .policy import check_policy
from .problems import (
    FieldError,
    Problem,
    internal_error,
    invalid_request,
    not_configured,
    payload_too_large,
    unsupported_media_type,
)
from .requests_model import MAX_BODY_BYTES, REQUEST_ID_PATTERN, validate_invitation
from .settings import SettingsError

REQUEST_ID_HEADERS = ("x-ms-client-request-id", "x-correlation-id")
_JSON_MEDIA_TYPE = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")


@dataclass
class HttpAnswer:
    status: int
    body: bytes
    headers: dict[str, str]
    messages: list[str] = field(default_factory=list)  # group-memberships messages to enqueue (success only)


def handle_invitation(headers: Mapping[str, str], body: bytes) -> HttpAnswer:
    """Answer one invitation request. ``headers`` keys are lower-case."""
    clock = runtime.timing().clock
    started = clock()
    request_id = request_id_from(headers)
    log_pii = False
    try:
        request = _parse_and_validate(headers, body)
        request_id = request.request_id or request_id
        settings = runtime.settings()
        log_pii = settings.log_pii
        refusal = check_policy(settings, request.email, request.group_ids, request.cc_recipients)
        if refusal:
            raise refusal
        graph = runtime.graph()
        outcome = onboard(request, request_id, settings, graph, graph.budget(runtime.HTTP_BUDGET_SECONDS))
    except Problem as problem:
        return _problem_answer(problem, request_id, started, log_pii)
    except CredentialError as error:  # building the token provider (MSAL reads the authority's metadata)
        return _problem_answer(problem_from_credential(error), request_id, started, log_pii)
    except SettingsError as error:
        log_event("settings.invalid", level=logging.ERROR, requestId=request_id, settings=error.problems)
        return _problem_answer(not_configured(error.problems), request_id, started, log_pii)
    except Exception:  # a bug: log it whole, answer a problem that names the requestId
        log_event("invite.bug", level=logging.ERROR, requestId=request_id, exc_info=True)
        return _problem_answer(internal_error(), request_id, started, log_pii)
    log_event("invite.done", log_pii=log_pii, requestId=request_id, email=request.email,
                      userId=outcome.body["userId"], outcome="invited" if outcome.body["invited"] else "existing",
                      status=outcome.status, groups=len(outcome.messages), durationMs=_ms(clock() - started))
    return HttpAnswer(outcome.status, json.dumps(outcome.body).encode("utf-8"), _headers(request_id),
                      outcome.messages)


def request_id_from(headers: Mapping[str, str]) -> str:
    """The caller's correlation id when it is a sane token, else a new GUID."""
    for name in REQUEST_ID_HEADERS:
        value = (headers.get(name) or "").strip()
        if re.fullmatch(REQUEST_ID_PATTERN, value):
            return value
    return str(uuid.uuid4())


def _parse_and_validate(headers: Mapping[str, str], body: bytes) -> Any:
    content_type = headers.get("content-type")
    media_type, _, parameters = (content_type or "").partition(";")
    charset = re.search(r"charset\s*=\s*\"?([\w-]+)", parameters, re.IGNORECASE)
    if not _JSON_MEDIA_TYPE.match(media_type.strip().lower()) or (charset and charset[1].lower() not in ("utf-8",
                                                                                                         "utf8")):
        raise unsupported_media_type(content_type)
    declared = headers.get("content-length", "")
    # isdigit() alone admits digits int() refuses ("\u00b2"): such a header is ignored like any malformed one.
    if len(body) > MAX_BODY_BYTES or (declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES):
        raise payload_too_large(MAX_BODY_BYTES)
    parsed = parse_json(body)
    request, errors = validate_invitation(parsed)
    if errors:
        raise invalid_request(errors)
    return request


def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8, no duplicate member names (the last one would win silently), no NaN/Infinity, no
    unpaired surrogates."""
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


def _problem_answer(problem: Problem, request_id: str, started: float, log_pii: bool) -> HttpAnswer:
    level = logging.WARNING if problem.status < 500 or problem.status in (502, 503) else logging.ERROR
    log_event("invite.refused", level=level, log_pii=log_pii, requestId=request_id, status=problem.status,
                      problemType=problem.type, detail=problem.detail,
                      errors=[error.to_dict() for error in problem.errors] or None,
                      graphRequestId=(problem.extensions.get("graphError") or {}).get("graphRequestId"),
                      durationMs=_ms(runtime.timing().clock() - started))
    return HttpAnswer(problem.status, problem.render(request_id), {**_headers(request_id), **problem.headers()})


def _headers(request_id: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "x-request-id": request_id}


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
