"""``DELETE /api/invitations/{requestId}``: end now the group access a request granted (docs/lifecycle.md).

200: every grant of the request is ended (removed now, or ended before); 202: some removal is left to the hourly
expiry (Graph throttled or down: it stays ``removing`` and is finished by the next run) or its add is still in
progress (``pending``; revoke again later); 404: this app holds no grant for that request id; 400: not a request
id. Failures are the failure policy's (shared.failures) rendered as problems, as for POST.
"""

from __future__ import annotations

import json
import logging
import re
import uuid

from . import app_context
from .app_context import AppContext
from .failures import judge
from .grants import grant_store
from .http_api import HttpAnswer
from .lifecycle import revoke
from .logging_setup import log_event
from .problems import FieldError, Problem, invalid_request
from .requests_model import REQUEST_ID_PATTERN


def no_grant(request_id: str) -> Problem:
    return Problem(404, "grant-not-found", "No group access was granted for this request",
                   f"This app holds no grant asked for by request {request_id}.")


def handle_revoke(request_id: str, ctx: AppContext | None = None) -> HttpAnswer:
    ctx = ctx or app_context.current()
    if not re.fullmatch(REQUEST_ID_PATTERN, request_id):
        # never echoed (it could hold anything a URL can carry): the answer gets an id of its own
        return _problem(invalid_request([FieldError("requestId", f"must match {REQUEST_ID_PATTERN}")]),
                        str(uuid.uuid4()))
    try:
        ctx.settings()
        results = revoke(ctx, grant_store(), request_id)
    except Exception as failure:
        verdict = judge(failure)
        assert verdict.problem is not None
        if verdict.problem.kind == "internal-error":
            log_event("revoke.bug", level=logging.ERROR, requestId=request_id, exc_info=True)
        return _problem(verdict.problem, request_id)
    if not results:
        return _problem(no_grant(request_id), request_id)
    groups = [{"userId": r.grant.user_id, "groupId": r.grant.group_id,
               "status": {"removed": "removed", "skipped": r.grant.state}.get(r.status, r.status),
               **({"error": r.error} if r.error else {})} for r in results]
    finished = all(g["status"] in ("removed", "ended") for g in groups)
    log_event("revoke.done", requestId=request_id, grants=len(groups), finished=finished)
    body = {"requestId": request_id, "groups": groups}
    return HttpAnswer(200 if finished else 202, json.dumps(body).encode("utf-8"),
                      {"Content-Type": "application/json", "x-request-id": request_id})


def _problem(problem: Problem, request_id: str) -> HttpAnswer:
    log_event("revoke.refused", level=logging.WARNING, requestId=request_id, status=problem.status,
              problemType=problem.type)
    return HttpAnswer(problem.status, problem.render(request_id),
                      {"x-request-id": request_id, **problem.headers()})
