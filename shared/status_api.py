"""``GET /api/invitations/{requestId}`` (function key) and ``GET /api/invitations/{requestId}/status?expires=&sig=``
(anonymous, a signed status link: shared.status_links): an invitation's status record (shared.status).

Both answer the asynchronous request-reply pattern: 202 with ``Retry-After`` and ``Location`` (a signed link) while
a group is still queued, 200 with the final record once every group is added, already a member, or failed; 404
(problem+json) for an id with no record. The signed route checks the link before it reads anything: a link that is
not this app's, is for another id, or has expired answers 403.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Mapping

from . import app_context
from .app_context import AppContext
from .failures import judge
from .http_api import HttpAnswer, request_id_from
from .logging_setup import log_event
from .problems import Problem
from .requests_model import REQUEST_ID_PATTERN
from .status import StatusRecord, store
from .status_links import base_url_of, status_link, valid

DEFAULT_POLL_SECONDS = 10  # Logic Apps polls every 20 s unless told; a group's next try is usually sooner
MIN_POLL_SECONDS, MAX_POLL_SECONDS = 5, 120


def unknown_request(request_id: str) -> Problem:
    return Problem(404, "invitation-not-found", "No invitation has this requestId",
                   "No status record exists for this requestId: it was never accepted, or it expired "
                   "(records are kept 30 days after their last change).")


def invalid_link() -> Problem:
    return Problem(403, "status-link-invalid", "The status link is not valid",
                   "The link's signature does not match this requestId, or the link has expired; ask "
                   "GET /api/invitations/{requestId} with the function key instead.")


def link_key(ctx: AppContext) -> bytes:
    """The status-link key, read (or generated) once per process."""
    with ctx.lock:
        if ctx.status_link_key is None:
            ctx.status_link_key = store(ctx).link_key()
        return ctx.status_link_key


def handle_status(request_id: str, url: str, query: Mapping[str, str], headers: Mapping[str, str], *,
                  signed: bool, ctx: AppContext | None = None) -> HttpAnswer:
    """Answer one status request (``signed``: the anonymous route, which requires a valid link)."""
    ctx = ctx or app_context.current()
    trace_id = request_id_from(headers)  # this GET's own correlation id, for the problem's requestId
    shown = request_id if re.fullmatch(REQUEST_ID_PATTERN, request_id) else trace_id
    try:
        if not re.fullmatch(REQUEST_ID_PATTERN, request_id):
            return _problem(unknown_request(request_id), trace_id)
        key = link_key(ctx)
        if signed and not valid(key, request_id, query.get("expires"), query.get("sig")):
            return _problem(invalid_link(), trace_id)  # an anonymous caller's id is not echoed back
        record = store(ctx).read(request_id)
    except Exception as error:  # storage down (or a bug): the failure policy's problem, never a bare 500
        verdict = judge(error)
        if verdict.problem is not None and verdict.problem.kind == "internal-error":
            log_event("status.bug", level=logging.ERROR, requestId=shown, exc_info=True)
        return _problem(verdict.problem, shown)
    if record is None:
        return _problem(unknown_request(request_id), shown)
    return record_answer(record, link=status_link(base_url_of(url), request_id, key))


def record_answer(record: StatusRecord, link: str, now: dt.datetime | None = None) -> HttpAnswer:
    """202 + Retry-After + Location while pending, else 200: the record as JSON either way."""
    body = json.dumps(record.to_dict(), ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "x-request-id": record.request_id}
    if not record.pending:
        return HttpAnswer(200, body, headers)
    return HttpAnswer(202, body, {**headers, "Location": link, "Retry-After": str(poll_seconds(record, now))})


def poll_seconds(record: StatusRecord, now: dt.datetime | None = None) -> int:
    """When to ask again: when the soonest waiting group is due (bounded), else DEFAULT_POLL_SECONDS."""
    due = record.next_attempt()
    if due is None:
        return DEFAULT_POLL_SECONDS
    seconds = int((due - (now or dt.datetime.now(dt.UTC))).total_seconds()) + 1
    return max(MIN_POLL_SECONDS, min(MAX_POLL_SECONDS, seconds))


def _problem(problem: Problem | None, request_id: str) -> HttpAnswer:
    assert problem is not None
    if problem.status >= 500:
        log_event("status.failed", level=logging.WARNING, requestId=request_id, status=problem.status,
                  problemType=problem.type, detail=problem.detail)
    return HttpAnswer(problem.status, problem.render(request_id),
                      {"Content-Type": "application/json", "x-request-id": request_id, **problem.headers()})


def sweep_status(ctx: AppContext | None = None) -> int:
    """The timer's work: delete expired records; a storage failure raises (the timer runs again tomorrow)."""
    deleted = store(ctx or app_context.current()).sweep()
    log_event("status.swept", deleted=deleted)
    return deleted
