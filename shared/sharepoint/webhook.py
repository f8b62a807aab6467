"""``POST /api/sharepoint/notifications``: SharePoint's list webhook (sp-dev-docs overview-sharepoint-webhooks.md).

- ``?validationtoken=…`` (subscription handshake): 200, text/plain, the token, at once.
- A notification ``{"value": [{subscriptionId, clientState, expirationDateTime, resource, tenantId, siteUrl,
  webId}]}``: one ``sharepoint-notifications`` message for the configured list when any entry's clientState matches
  (constant-time) and its resource is that list (the worker reads every change since its delta link, so one is
  enough); other entries are refused and logged without their clientState (the first few; then a count). The
  answer comes at once (SharePoint retries anything that takes over 5 s); the work happens in the queue worker.
- A malformed body: a 400 problem, nothing queued.
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import app_context
from ..logging_setup import log_event
from ..problems import FieldError, Problem, invalid_request, not_configured, payload_too_large
from ..settings import SettingsError
from ..wire import parse_json
from . import config

MAX_BODY_BYTES = 256 * 1024
MAX_TOKEN_LENGTH = 1024
MAX_REFUSALS_LOGGED = 3  # refused entries logged one by one per POST; the rest are counted
ENTRY_FIELDS = ("subscriptionId", "clientState", "expirationDateTime", "resource", "tenantId", "siteUrl", "webId")


@dataclass
class WebhookAnswer:
    status: int
    body: bytes
    headers: dict[str, str]
    messages: list[str] = field(default_factory=list)  # for the sharepoint-notifications queue


def handle_webhook(query: Mapping[str, str], body: bytes) -> WebhookAnswer:
    token = next((v for k, v in query.items() if k.lower() == "validationtoken"), None)
    if token is not None:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return _problem(invalid_request([FieldError("validationtoken", "is empty or too long")]))
        return WebhookAnswer(200, token.encode("utf-8"), {"Content-Type": "text/plain; charset=utf-8"})
    try:
        entries = parse_notifications(body)
        settings = app_context.current().settings()
        config.require(settings, "SHAREPOINT_LIST_ID", "SHAREPOINT_CLIENT_STATE")
    except Problem as problem:
        return _problem(problem)
    except SettingsError as error:
        log_event("settings.invalid", level=logging.ERROR, settings=error.problems)
        return _problem(not_configured(error.problems))
    expected_state = (settings.sharepoint_client_state or "").encode("utf-8")
    list_id = (settings.sharepoint_list_id or "").lower()
    # A notification says only "this list changed"; the worker reads every change since the last delta link, so one
    # message per list is enough however many entries a POST carries (one 256 KB POST must not make 2,000 messages).
    per_list: dict[str, str] = {}
    accepted = refused = 0
    for entry in entries:
        state_ok = hmac.compare_digest(str(entry.get("clientState") or "").encode("utf-8"), expected_state)
        resource = str(entry["resource"]).lower()
        if state_ok and resource == list_id:
            accepted += 1
            per_list.setdefault(resource, json.dumps({name: entry.get(name) for name in ENTRY_FIELDS
                                                      if name != "clientState"}))
            continue
        refused += 1
        if refused <= MAX_REFUSALS_LOGGED:  # the rest as a count: a POST may carry thousands
            log_event("sharepoint.notification_refused", level=logging.WARNING,
                      subscriptionId=entry["subscriptionId"], resource=entry["resource"],
                      reason="clientState" if not state_ok else "another list")
    messages = list(per_list.values())
    log_event("sharepoint.notified", accepted=accepted, queued=len(messages), refused=refused,
              refusedNotLogged=max(0, refused - MAX_REFUSALS_LOGGED) or None)
    answer = json.dumps({"accepted": accepted, "queued": len(messages), "refused": refused}).encode("utf-8")
    return WebhookAnswer(202, answer, {"Content-Type": "application/json"}, messages)


def parse_notifications(body: bytes) -> list[dict[str, Any]]:
    """The entries of a notification body; raises a 400 Problem listing what is wrong."""
    if len(body) > MAX_BODY_BYTES:
        raise payload_too_large(MAX_BODY_BYTES)
    parsed = parse_json(body)  # the invitation doors' strict JSON: no lone surrogate reaches a log or a message
    values = parsed.get("value") if isinstance(parsed, dict) else None
    if not isinstance(values, list) or not values:
        raise invalid_request([FieldError("value", "must be a non-empty array of notifications")])
    errors = []
    for index, entry in enumerate(values):
        if not isinstance(entry, dict):
            errors.append(FieldError(f"value[{index}]", "must be an object"))
            continue
        for name in ("subscriptionId", "resource"):
            if not isinstance(entry.get(name), str) or not entry[name]:
                errors.append(FieldError(f"value[{index}].{name}", "is required (a string)"))
        if entry.get("clientState") is not None and not isinstance(entry["clientState"], str):
            errors.append(FieldError(f"value[{index}].clientState", "must be a string"))
    if errors:
        raise invalid_request(errors)
    return values


def _problem(problem: Problem) -> WebhookAnswer:
    return WebhookAnswer(problem.status, problem.render(str(uuid.uuid4())), {"Content-Type": "application/problem+json",
                                                                              **problem.headers()})
