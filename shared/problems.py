"""RFC 9457 problem details: every error answer of the HTTP API is one of these, as ``application/problem+json``.

The ``type`` URIs are stable identifiers documented in docs/api.md; callers branch on ``type`` or ``status``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:guest-onboarding:problem:"


@dataclass(frozen=True)
class FieldError:
    field: str  # JSON path of the offending field, e.g. "groupIds[2]"; "body" for the body as a whole
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class Problem(Exception):
    """An error answer. Raise it anywhere in the HTTP flow; the API layer renders it."""

    status: int
    kind: str  # the last segment of ``type``
    title: str
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    retry_after: int | None = None  # seconds; sent as the Retry-After header (429, 503)
    extensions: dict[str, Any] = field(default_factory=dict)  # extra members (graphError, setting, …)

    def __post_init__(self) -> None:
        Exception.__init__(self, f"{self.status} {self.kind}: {self.detail}")

    @property
    def type(self) -> str:
        return TYPE_PREFIX + self.kind

    def to_dict(self, request_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail}
        if self.errors:
            body["errors"] = [error.to_dict() for error in self.errors]
        body.update(self.extensions)
        body["requestId"] = request_id
        return body

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": MEDIA_TYPE}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers

    def render(self, request_id: str) -> bytes:
        return json.dumps(self.to_dict(request_id), ensure_ascii=False).encode("utf-8")


def invalid_request(errors: list[FieldError]) -> Problem:
    count = len(errors)
    return Problem(400, "invalid-request", "The request body is not valid",
                   f"{count} problem{'s' if count != 1 else ''} found; see errors.", errors)


def payload_too_large(limit: int) -> Problem:
    return Problem(413, "payload-too-large", "The request body is too large",
                   f"The body must be at most {limit} bytes.", extensions={"limit": limit})


def unsupported_media_type(content_type: str | None) -> Problem:
    shown = content_type or "(none)"
    return Problem(415, "unsupported-media-type", "The request body must be JSON",
                   f"Content-Type {shown} is not accepted; send application/json (UTF-8).")


def policy_refused(errors: list[FieldError], settings: list[str]) -> Problem:
    return Problem(403, "policy-refused", "The request is not allowed by this app's policy",
                   f"Refused by {', '.join(settings)}; see errors.", errors, extensions={"settings": settings})


def not_configured(setting_problems: dict[str, str]) -> Problem:
    names = ", ".join(setting_problems)
    return Problem(503, "not-configured", "The app is not configured correctly",
                   f"An operator must fix the app settings: {names}.", retry_after=300,
                   extensions={"settings": [{"name": k, "message": v} for k, v in setting_problems.items()]})


def invitation_in_progress(retry_after: int) -> Problem:
    return Problem(503, "invitation-in-progress", "Another request is inviting this person",
                   "A request for the same address holds its claim and has not answered yet; retry after the "
                   "Retry-After delay to get its outcome.", retry_after=retry_after)


def internal_error() -> Problem:
    return Problem(500, "internal-error", "Unexpected error",
                   "The app failed unexpectedly; the error is logged under this requestId.")


def problem_text(problem: Problem) -> str:
    """The problem as one line of text, for every medium that is not an HTTP body: a poison message's reason, a
    SharePoint row's Error column, a bulk results row, the command line. Each bad field is named; Graph's own
    message is quoted (unless the detail already quotes it)."""
    if problem.errors:  # each names its field: the title would say nothing more
        return "; ".join(f"{error.field}: {error.message}" for error in problem.errors)
    text = f"{problem.title}: {problem.detail}"
    graph_error = problem.extensions.get("graphError") or {}
    if graph_error.get("message") and graph_error["message"] not in problem.detail:
        text += f" Graph: {graph_error['message']}"
    return text
