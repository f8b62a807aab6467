"""The invitation request: its fields as data (validated here, and walked by the OpenAPI generator), and the
validation that reports every problem at once.

A field spec says what a caller may send; :func:`validate_invitation` turns a parsed JSON body into an
:class:`InvitationRequest` or a list of :class:`~shared.problems.FieldError`. Unknown fields are errors, so a
typo like ``groupID`` cannot silently skip a group.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .email_address import MAX_LENGTH as EMAIL_MAX_LENGTH
from .email_address import check_email
from .problems import FieldError

MAX_BODY_BYTES = 64 * 1024
MAX_GROUPS = 20
MAX_CC_RECIPIENTS = 1  # Graph: "Currently only 1 additional recipient is supported" (resources/invitedusermessageinfo)
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
GUID_PATTERN = r"^[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$"
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"

Check = Callable[[Any], tuple[Any, str | None]]  # (normalised value, problem or None)


@dataclass(frozen=True)
class Field:
    """One JSON member: enough for validation and for an OpenAPI 2.0 / JSON Schema generator."""

    name: str
    type: str  # "string" | "boolean" | "array" | "integer"
    description: str
    required: bool = False
    default: Any = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    format: str | None = None  # "email" | "uuid" | "uri"
    enum: tuple[str, ...] | None = None
    items: Field | None = None  # for arrays: the spec of each element (its name is unused)
    max_items: int | None = None
    minimum: int | None = None  # integers only
    maximum: int | None = None
    check: Check | None = None  # a rule a schema cannot express (email syntax, https URL); not exported


def _email(value: str) -> tuple[Any, str | None]:
    return check_email(value)


def _guid(value: str) -> tuple[Any, str | None]:
    if not re.fullmatch(GUID_PATTERN, value):
        return None, "must be a GUID (e.g. 0f8fad5b-d9cb-469f-a165-70867728950e)"
    return value.lower(), None


def _https_url(value: str) -> tuple[Any, str | None]:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or any(ch.isspace() for ch in value):
        return None, "must be an absolute https URL"
    return value, None


MAX_ACCESS_DAYS_FIELD = 3650  # ten years: the field's own bound; MAX_ACCESS_DAYS may lower it
MAX_SPONSORS = 5
UPN_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,255}$"


def _date_time(value: str) -> tuple[Any, str | None]:
    # RFC 3339 with an explicit zone: a time without one would be read differently by each caller's clock.
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})", value):
        return None, "must be a date-time with a zone, e.g. 2027-03-31T17:00:00Z"
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None, "is not a valid date-time"
    return moment.astimezone(dt.UTC), None


def _sponsor(value: str) -> tuple[Any, str | None]:
    if re.fullmatch(GUID_PATTERN, value):
        return value.lower(), None
    if re.fullmatch(UPN_PATTERN, value):
        return value, None
    return None, "must be a user id (GUID) or a user principal name (name@contoso.com)"


INVITATION_FIELDS: tuple[Field, ...] = (
    Field("email", "string", "The person's email address: one address, as Graph accepts it for an invitation.",
          required=True, min_length=3, max_length=EMAIL_MAX_LENGTH, format="email", check=_email),
    Field("displayName", "string", "Display name for a new guest; Graph derives one from the address if absent.",
          min_length=1, max_length=256),
    Field("groupIds", "array", "Groups to add the person to (ids); each must be allowed by ALLOWED_GROUP_IDS. "
          "Duplicates are merged.", default=[], max_items=MAX_GROUPS,
          items=Field("groupId", "string", "A group id (GUID).", format="uuid", pattern=GUID_PATTERN, check=_guid)),
    Field("redirectUrl", "string", "Where the guest lands after redeeming; defaults to INVITE_REDIRECT_URL.",
          max_length=2048, format="uri", check=_https_url),
    Field("sendInvitationMessage", "boolean", "Whether Graph emails the invitation.", default=True),
    Field("message", "string", "A custom message body for the invitation email.", min_length=1, max_length=2000),
    Field("messageLanguage", "string", "Language of the invitation email (BCP 47, e.g. en-US); Graph ignores it "
          "when a custom message is set.", max_length=35, pattern=LANGUAGE_PATTERN),
    Field("ccRecipients", "array", "One more address to copy on the invitation email (Graph's limit is 1).",
          default=[], max_items=MAX_CC_RECIPIENTS,
          items=Field("ccRecipient", "string", "An email address.", max_length=EMAIL_MAX_LENGTH, format="email",
                      check=_email)),
    Field("resendInvitation", "boolean", "Invite again a guest who has not redeemed yet (PendingAcceptance).",
          default=False),
    Field("accessUntil", "string", "When the group access ends (date-time with a zone); the hourly expiry removes the "
          "person from the groups then. Defaults to DEFAULT_ACCESS_DAYS from now, if set; at most MAX_ACCESS_DAYS. "
          "Not with accessDays.", max_length=32, format="date-time", check=_date_time),
    Field("accessDays", "integer", "How many days the group access lasts from now (instead of accessUntil).",
          minimum=1, maximum=MAX_ACCESS_DAYS_FIELD),
    Field("sponsors", "array", "Internal people responsible for the guest (user ids or UPNs), set as the guest's "
          "sponsors; needs SPONSORS_ENABLED (and User.ReadWrite.All).", default=[], max_items=MAX_SPONSORS,
          items=Field("sponsor", "string", "A user id (GUID) or user principal name.", max_length=320,
                      check=_sponsor)),
    Field("requestId", "string", "Correlation id echoed in the answer and logs; defaults to the "
          "x-ms-client-request-id or x-correlation-id header, else a new GUID.",
          max_length=128, pattern=REQUEST_ID_PATTERN),
)


@dataclass(frozen=True)
class InvitationRequest:
    email: str
    display_name: str | None = None
    group_ids: tuple[str, ...] = ()
    redirect_url: str | None = None
    send_invitation_message: bool = True
    message: str | None = None
    message_language: str | None = None
    cc_recipients: tuple[str, ...] = ()
    resend_invitation: bool = False
    request_id: str | None = None
    access_until: dt.datetime | None = None
    access_days: int | None = None
    sponsors: tuple[str, ...] = ()


_ATTRIBUTES = {"email": "email", "displayName": "display_name", "groupIds": "group_ids",
               "redirectUrl": "redirect_url", "sendInvitationMessage": "send_invitation_message",
               "message": "message", "messageLanguage": "message_language", "ccRecipients": "cc_recipients",
               "resendInvitation": "resend_invitation", "requestId": "request_id",
               "accessUntil": "access_until", "accessDays": "access_days", "sponsors": "sponsors"}


def validate_invitation(body: Any) -> tuple[InvitationRequest | None, list[FieldError]]:
    """Check a parsed JSON body against :data:`INVITATION_FIELDS`; return the request or every problem found."""
    values, errors = validate_object(body, INVITATION_FIELDS)
    if isinstance(body, dict) and body.get("accessUntil") is not None and body.get("accessDays") is not None:
        errors.append(FieldError("accessDays", "give accessUntil or accessDays, not both"))
    if errors:
        return None, errors
    kwargs = {_ATTRIBUTES[name]: value for name, value in values.items()}
    kwargs["group_ids"] = tuple(dict.fromkeys(kwargs.get("group_ids", ())))  # dedupe, keep the caller's order
    kwargs["cc_recipients"] = tuple(kwargs.get("cc_recipients", ()))
    kwargs["sponsors"] = tuple(dict.fromkeys(kwargs.get("sponsors", ())))
    return InvitationRequest(**kwargs), []


MAX_UNKNOWN_FIELDS_NAMED = 10
MAX_ECHOED_NAME = 64


def _cut(name: str) -> str:
    return name if len(name) <= MAX_ECHOED_NAME else f"{name[:MAX_ECHOED_NAME]}…"


def validate_object(body: Any, fields: tuple[Field, ...]) -> tuple[dict[str, Any], list[FieldError]]:
    """Validate a JSON object member by member. ``null`` counts as absent for optional members (Logic Apps send
    null for empty dynamic content); defaults fill absent members."""
    if not isinstance(body, dict):
        return {}, [FieldError("body", f"must be a JSON object, not {_json_type(body)}")]
    known = {spec.name: spec for spec in fields}
    unknown = [name for name in body if name not in known]
    # The answer echoes unknown names, so it is bounded like a log line: a few names, each cut, then a count.
    errors = [FieldError(_cut(name), f"is not a known field (known: {', '.join(known)})")
              for name in unknown[:MAX_UNKNOWN_FIELDS_NAMED]]
    if len(unknown) > MAX_UNKNOWN_FIELDS_NAMED:
        errors.append(FieldError("body", f"has {len(unknown) - MAX_UNKNOWN_FIELDS_NAMED} more unknown fields"))
    values: dict[str, Any] = {}
    for spec in fields:
        raw = body.get(spec.name)
        if raw is None:
            if spec.required:
                errors.append(FieldError(spec.name, "is required"))
            elif spec.default is not None:
                values[spec.name] = spec.default
            continue
        value = _validate_value(spec, raw, spec.name, errors)
        if value is not None:
            values[spec.name] = value
    return values, errors


def _validate_value(spec: Field, raw: Any, path: str, errors: list[FieldError]) -> Any:
    if spec.type == "boolean":
        if isinstance(raw, bool):
            return raw
        errors.append(FieldError(path, f"must be true or false, not {_json_type(raw)}"))
        return None
    if spec.type == "array":
        return _validate_array(spec, raw, path, errors)
    if spec.type == "integer":
        return _validate_integer(spec, raw, path, errors)
    if not isinstance(raw, str):
        errors.append(FieldError(path, f"must be a string, not {_json_type(raw)}"))
        return None
    problem = _string_problem(spec, raw)
    if problem:
        errors.append(FieldError(path, problem))
        return None
    if spec.check:
        value, problem = spec.check(raw)
        if problem:
            errors.append(FieldError(path, problem))
            return None
        return value
    return raw


def _string_problem(spec: Field, raw: str) -> str | None:
    if spec.min_length is not None and len(raw.strip()) < spec.min_length:
        return "must not be empty" if spec.min_length == 1 else f"must be at least {spec.min_length} characters"
    if spec.max_length is not None and len(raw) > spec.max_length:
        return f"must be at most {spec.max_length} characters"
    if spec.pattern and not spec.check and not re.fullmatch(spec.pattern, raw):  # a check words it better
        return f"must match {spec.pattern}"
    if spec.enum and raw not in spec.enum:
        return f"must be one of {', '.join(spec.enum)}"
    return None


def _validate_array(spec: Field, raw: Any, path: str, errors: list[FieldError]) -> list[Any] | None:
    if not isinstance(raw, list):
        errors.append(FieldError(path, f"must be an array, not {_json_type(raw)}"))
        return None
    if spec.max_items is not None and len(raw) > spec.max_items:
        errors.append(FieldError(path, f"must have at most {spec.max_items} item{'s' if spec.max_items > 1 else ''}"))
        return None
    before = len(errors)
    values = [_validate_value(spec.items, item, f"{path}[{index}]", errors) for index, item in enumerate(raw)]
    return values if len(errors) == before else None


def _validate_integer(spec: Field, raw: Any, path: str, errors: list[FieldError]) -> int | None:
    # JSON has one number type: 7.0 is accepted as 7, 7.5 and booleans are not.
    if isinstance(raw, bool) or not isinstance(raw, int | float) or (isinstance(raw, float) and not raw.is_integer()):
        errors.append(FieldError(path, f"must be a whole number of days, not {_json_type(raw)}"))
        return None
    value = int(raw)
    if (spec.minimum is not None and value < spec.minimum) or (spec.maximum is not None and value > spec.maximum):
        errors.append(FieldError(path, f"must be between {spec.minimum} and {spec.maximum}"))
        return None
    return value


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
             dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def json_schema(fields: tuple[Field, ...] = INVITATION_FIELDS) -> dict[str, Any]:
    """The fields as a JSON Schema object (the subset OpenAPI 2.0 accepts), for documentation and generators."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [spec.name for spec in fields if spec.required],
        "properties": {spec.name: _field_schema(spec) for spec in fields},
    }


def _field_schema(spec: Field) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": spec.type, "description": spec.description}
    for key, value in (("default", spec.default), ("minLength", spec.min_length), ("maxLength", spec.max_length),
                       ("pattern", spec.pattern), ("format", spec.format), ("maxItems", spec.max_items),
                       ("minimum", spec.minimum), ("maximum", spec.maximum)):
        if value is not None and not (key == "default" and value == []):
            schema[key] = value
    if spec.enum:
        schema["enum"] = list(spec.enum)
    if spec.items is not None:
        schema["items"] = _field_schema(spec.items)
    return schema
