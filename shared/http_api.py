"""``POST /api/invitations``: the HTTP door's rules (media type, size, request id) around the intake pipeline
(shared.intake), and its result rendered as HTTP: 201/200 with the person, or the verdict's problem as an RFC 9457
``application/problem+json`` answer. Nothing a caller can send produces a 500.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import app_context
from .app_context import HTTP_BUDGET_SECONDS, AppContext
from .failures import judge
from .intake import Admitted, Refused, intake
from .logging_setup import log_event
from .problems import Problem, payload_too_large, unsupported_media_type
from .requests_model import MAX_BODY_BYTES, REQUEST_ID_PATTERN
from .wire import parse_json, utc_text

REQUEST_ID_HEADERS = ("x-ms-client-request-id", "x-correlation-id")
ACCEPTED_RETRY_AFTER = 10  # seconds before the first poll of an asynchronous answer
_JSON_MEDIA_TYPE = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")


@dataclass
class HttpAnswer:
    status: int
    body: bytes
    headers: dict[str, str]
    messages: list[str] = field(default_factory=list)  # group-memberships messages to enqueue (success only)


def handle_invitation(headers: Mapping[str, str], body: bytes, ctx: AppContext | None = None,
                      url: str | None = None) -> HttpAnswer:
    """Answer one invitation request. ``headers`` keys are lower-case; ``url`` is the request's (for the status
    link of an asynchronous answer)."""
    ctx = ctx or app_context.current()
    clock = ctx.timing.clock
    started = clock()
    request_id = request_id_from(headers)
    try:
        parsed = _parse(headers, body)
    except Problem as problem:
        return _problem_answer(problem, request_id, clock() - started, False)
    result = intake(parsed, request_id, ctx.settings, ctx.graph, HTTP_BUDGET_SECONDS, ctx.utcnow)
    if isinstance(result, Refused):
        return _problem_answer(result.problem, result.request_id, clock() - started, result.log_pii)
    person = result.person
    status = 201 if person.invited else 200  # 201: this call created (sent) an invitation
    messages = result.membership_messages()
    try:  # the status record exists before any membership message does (GET answers it at once)
        from .status import record_admitted  # the table SDK is imported on the first accepted request

        record_admitted(ctx, result, "http")
        link = status_link_for(ctx, result, url) if messages and respond_async(headers) else None
    except Exception as error:  # storage down: nothing is enqueued; a retry finds the person (no second email)
        return _problem_answer(judge(error).problem, result.request_id, clock() - started, result.log_pii)
    log_event("invite.done", log_pii=result.log_pii, requestId=result.request_id, email=result.request.email,
              userId=person.user_id, outcome="invited" if person.invited else "existing", status=status,
              groups=len(messages), durationMs=_ms(clock() - started), respondAsync=link is not None)
    body_json = json.dumps(invitation_answer(result)).encode("utf-8")
    if link is not None:  # the asynchronous request-reply pattern: poll Location until it answers 200
        headers_out = {**_headers(result.request_id), "Location": link, "Retry-After": str(ACCEPTED_RETRY_AFTER),
                       "Preference-Applied": "respond-async"}
        return HttpAnswer(202, body_json, headers_out, messages)
    return HttpAnswer(status, body_json, _headers(result.request_id), messages)


def respond_async(headers: Mapping[str, str]) -> bool:
    """``Prefer: respond-async`` (RFC 7240: a list of preferences, case-insensitive tokens, maybe with values)."""
    preferences = (headers.get("prefer") or "")[:1000].split(",")
    return any(item.split(";")[0].split("=")[0].strip().lower() == "respond-async" for item in preferences)


def status_link_for(ctx: AppContext, result: Admitted, url: str | None) -> str:
    from .status_api import link_key
    from .status_links import base_url_of, status_link

    return status_link(base_url_of(url or "https://localhost"), result.request_id, link_key(ctx))


def invitation_answer(result: Admitted) -> dict[str, Any]:
    """The 200/201 body (docs/api.md)."""
    person = result.person
    answer = {
        "requestId": result.request_id,
        "email": result.request.email,
        "userId": person.user_id,
        "userType": person.user_type,
        "invited": person.invited,
        "invitationStatus": person.invitation_status,
        "inviteRedeemUrl": person.redeem_url,
        "groups": [{"groupId": group_id, "status": "queued"} for group_id in result.request.group_ids],
    }
    if result.until is not None:
        answer["accessUntil"] = utc_text(result.until)
    return answer


def request_id_from(headers: Mapping[str, str]) -> str:
    """The caller's correlation id when it is a sane token, else a new GUID."""
    for name in REQUEST_ID_HEADERS:
        value = (headers.get(name) or "").strip()
        if re.fullmatch(REQUEST_ID_PATTERN, value):
            return value
    return str(uuid.uuid4())


def _parse(headers: Mapping[str, str], body: bytes) -> Any:
    """The body as JSON, after the HTTP door's own rules (media type, size); raises their problems."""
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
    return parse_json(body)


def _problem_answer(problem: Problem, request_id: str, elapsed: float, log_pii: bool) -> HttpAnswer:
    level = logging.WARNING if problem.status < 500 or problem.status in (502, 503) else logging.ERROR
    log_event("invite.refused", level=level, log_pii=log_pii, requestId=request_id, status=problem.status,
                      problemType=problem.type, detail=problem.detail,
                      errors=[error.to_dict() for error in problem.errors] or None,
                      graphRequestId=(problem.extensions.get("graphError") or {}).get("graphRequestId"),
                      durationMs=_ms(elapsed))
    return HttpAnswer(problem.status, problem.render(request_id), {**_headers(request_id), **problem.headers()})


def _headers(request_id: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "x-request-id": request_id}


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
