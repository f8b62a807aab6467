"""The OpenAPI 2.0 document of the HTTP API (the format Power Automate / Logic Apps custom connectors import, under
1 MB), generated from the field list that validates requests (:data:`shared.requests_model.INVITATION_FIELDS`), so
the two cannot drift. Served at ``GET /api/openapi.json`` and committed as ``openapi.json``.

Connector extensions (learn.microsoft.com/connectors/custom-connectors/openapi-extensions): ``x-ms-summary`` is the
label the designer shows (Title Case, as certification asks), ``x-ms-visibility`` ``important``/``advanced`` sorts
fields into the card or "advanced". ``info.contact`` and ``x-ms-connector-metadata`` (Website, Privacy policy,
Categories) are what certification asks of the definition, and :func:`api_properties` is the ``apiProperties.json``
that goes beside it (learn.microsoft.com/connectors/custom-connectors/certification-submission); both are committed
(``openapi.json``, ``apiProperties.json``) and a test keeps them equal to what this module generates.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from .problems import TYPE_PREFIX
from .requests_model import INVITATION_FIELDS, MAX_BODY_BYTES, REQUEST_ID_PATTERN, Field, json_schema

PLACEHOLDER_HOST = "your-app.azurewebsites.net"
FUNCTION_KEY_HEADER = "x-functions-key"
REQUEST_ID_HEADER = "x-ms-client-request-id"
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?")

# The designer's label and placement for each request field. A field added to the model without a label here makes
# the generator fail (KeyError), so the connector never shows a raw JSON name.
LABELS: dict[str, tuple[str, str]] = {
    "email": ("Email Address", "important"),
    "displayName": ("Display Name", "important"),
    "groupIds": ("Group IDs", "important"),
    "redirectUrl": ("Redirect URL After Redemption", "advanced"),
    "sendInvitationMessage": ("Send the Invitation Email", "important"),
    "message": ("Custom Message", "advanced"),
    "messageLanguage": ("Message Language", "advanced"),
    "ccRecipients": ("Copy the Invitation To", "advanced"),
    "resendInvitation": ("Resend to a Guest Who Has Not Redeemed", "advanced"),
    "accessUntil": ("Access Until", "advanced"),
    "accessDays": ("Access Days", "advanced"),
    "sponsors": ("Sponsors", "advanced"),
    "requestId": ("Request ID", "advanced"),
}
ITEM_LABELS = {"groupIds": "Group ID", "ccRecipients": "Email Address", "sponsors": "Sponsor"}

# Who publishes the connector. The app is deployed by each organization for its own tenant, so these are
# placeholders on the reserved .example domain (RFC 2606): replace them with your own before submitting
# (docs/logic-apps.md, "Certifying the connector"); nothing else needs editing.
PUBLISHER = "Your organization"
CONTACT = {"name": "Guest onboarding operators", "url": "https://your-organization.example/guest-onboarding",
           "email": "guest-onboarding@your-organization.example"}
CONNECTOR_METADATA = [
    {"propertyName": "Website", "propertyValue": CONTACT["url"]},
    {"propertyName": "Privacy policy", "propertyValue": "https://your-organization.example/privacy"},
    # From the certification list of categories: guests are an access (security) and IT operations concern.
    {"propertyName": "Categories", "propertyValue": "IT Operations;Security"},
]
ICON_BRAND_COLOR = "#0F6CBD"  # certification refuses white and the default #007ee5

# status -> (description, problem types it can carry). Problem types are the kinds of shared.problems and
# shared.onboarding; tests probe the real handler for each status.
PROBLEM_ANSWERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "400": ("The body is not valid: every bad field is listed in errors.", ("invalid-request",)),
    "403": ("Refused by the app's policy (email domain, group, or sponsors while SPONSORS_ENABLED is off); errors "
            "name each, settings the setting.",
            ("policy-refused",)),
    "413": (f"The body is larger than {MAX_BODY_BYTES} bytes.", ("payload-too-large",)),
    "415": ("The body is not JSON (send Content-Type: application/json, UTF-8).", ("unsupported-media-type",)),
    "422": ("Microsoft Graph refused to invite this person (e.g. a verified domain of this tenant); graphError has "
            "Graph's code and message.", ("invitation-refused",)),
    "429": ("Microsoft Graph is throttling the app; retry after Retry-After (Logic Apps' default policy does).",
            ("graph-throttled",)),
    "502": ("Microsoft Graph or the identity platform refused the app itself (e.g. a missing permission, named "
            "in requiredPermission; the tenant's or cross-tenant access settings forbid invitations, named in "
            "blockedBy): an operator must act.",
            ("graph-permission-missing", "invitations-blocked", "graph-refused", "credential-refused")),
    "503": ("Microsoft Graph, the identity platform or the app's storage is unavailable, the app is misconfigured, "
            "another request is inviting the same person right now, the invitation's answer was lost and its outcome "
            "is not known yet, or a new guest is not yet visible to set sponsors on; retry after Retry-After.",
            ("graph-unavailable", "identity-unavailable", "not-configured", "replication-lag", "storage-unavailable",
             "invitation-in-progress", "invitation-unconfirmed")),
}
# The status operation's own problems (GET /invitations/{requestId}).
STATUS_PROBLEMS = ("invitation-not-found", "status-link-invalid")
PREFER_HEADER = "Prefer"
RETRY_AFTER_STATUSES = ("429", "503")


def openapi_document(host: str = PLACEHOLDER_HOST) -> dict[str, Any]:
    """The whole document; ``host`` is where the app answers (the served copy uses the request's host)."""
    return {
        "swagger": "2.0",
        "info": {
            "title": "Guest onboarding",
            "description": "Invite people to your Microsoft 365 tenant as B2B guests and add them to groups.",
            "version": "1.0",
            "contact": dict(CONTACT),
        },
        "x-ms-connector-metadata": [dict(item) for item in CONNECTOR_METADATA],
        "host": host,
        "basePath": "/api",
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json", PROBLEM_MEDIA_TYPE],
        "securityDefinitions": {
            "functionKey": {"type": "apiKey", "in": "header", "name": FUNCTION_KEY_HEADER,
                            "description": "A function key of the app (Azure portal: the function's Function Keys)."},
        },
        "security": [{"functionKey": []}],
        "paths": {"/invitations": {"post": _invite_operation()},
                  "/invitations/{requestId}": {"get": _status_operation(), "delete": _revoke_operation()}},
        "definitions": {
            "InvitationRequest": _request_schema(),
            "InvitationResult": _result_schema(),
            "GroupStatus": _group_status_schema(),
            "InvitationStatus": _status_schema(),
            "GroupProgress": _group_progress_schema(),
            "Problem": _problem_schema(),
            "FieldError": _field_error_schema(),
        },
    }


def openapi_json(host: str = PLACEHOLDER_HOST) -> str:
    """The document as the text served and committed (stable key order, trailing newline)."""
    return json.dumps(openapi_document(host), indent=2, ensure_ascii=False) + "\n"


def api_properties() -> dict[str, Any]:
    """``apiProperties.json``: the connection's one parameter (the function key, as the document's
    ``securityDefinitions`` declares it), the icon colour, publisher and stack owner."""
    key = openapi_document()["securityDefinitions"]["functionKey"]
    return {
        "properties": {
            "connectionParameters": {
                "api_key": {
                    "type": "securestring",
                    "uiDefinition": {
                        "displayName": "Function Key",
                        "description": key["description"],
                        "tooltip": f"Sent as the {key['name']} header",
                        "constraints": {"tabIndex": 2, "clearText": False, "required": "true"},
                    },
                },
            },
            "iconBrandColor": ICON_BRAND_COLOR,
            "capabilities": [],
            "publisher": PUBLISHER,
            "stackOwner": PUBLISHER,
            "policyTemplateInstances": [],
        },
    }


def api_properties_json() -> str:
    """apiProperties.json as committed (stable key order, trailing newline)."""
    return json.dumps(api_properties(), indent=2, ensure_ascii=False) + "\n"


def served_openapi_json(host_header: str | None) -> str:
    """The document for ``GET /api/openapi.json``: ``host`` is the Host the caller used (so "Import from URL" gets
    the right one), when it looks like a host name; otherwise the placeholder."""
    host = (host_header or "").strip()
    return openapi_json(host if _HOST.fullmatch(host) else PLACEHOLDER_HOST)


def _invite_operation() -> dict[str, Any]:
    responses: dict[str, Any] = {
        "201": {"description": "Invited: this call created an invitation (and sent the email when asked).",
                "schema": {"$ref": "#/definitions/InvitationResult"}, "headers": _request_id_header()},
        "200": {"description": "Already in the directory: no invitation was sent; groups are queued all the same.",
                "schema": {"$ref": "#/definitions/InvitationResult"}, "headers": _request_id_header()},
    }
    responses["202"] = {
        "description": "Accepted (with Prefer: respond-async and at least one group): poll Location until it answers "
                       "200; Logic Apps and Power Automate do so by themselves.",
        "schema": {"$ref": "#/definitions/InvitationResult"}, "headers": {**_request_id_header(), **_poll_headers()}}
    for status, (description, _) in PROBLEM_ANSWERS.items():
        responses[status] = {"description": description, "schema": {"$ref": "#/definitions/Problem"},
                             "headers": _request_id_header()}
        if status in RETRY_AFTER_STATUSES:
            responses[status]["headers"]["Retry-After"] = {"type": "integer", "description": "Seconds to wait."}
    responses["default"] = {"description": "An unexpected error, logged under requestId.",
                            "schema": {"$ref": "#/definitions/Problem"}}
    return {
        "operationId": "InviteGuest",
        "summary": "Invite a guest",
        "description": "Invites the person as a B2B guest unless they are already in the directory (then no second "
                       "email is sent), and queues their addition to each group. Safe to retry.",
        "x-ms-visibility": "important",
        "parameters": [
            {"name": "body", "in": "body", "required": True, "schema": {"$ref": "#/definitions/InvitationRequest"}},
            {"name": REQUEST_ID_HEADER, "in": "header", "required": False, "type": "string",
             "pattern": REQUEST_ID_PATTERN, "maxLength": 128, "x-ms-summary": "Correlation ID",
             "x-ms-visibility": "internal",
             "description": "Correlation id echoed as requestId when the body has none."},
            {"name": PREFER_HEADER, "in": "header", "required": False, "type": "string", "enum": ["respond-async"],
             "x-ms-summary": "Wait Until Every Group Is Done", "x-ms-visibility": "advanced",
             "description": "respond-async: answer 202 and let the caller poll the status (Location) until every "
                            "group is added or failed."},
        ],
        "responses": responses,
    }


def _poll_headers() -> dict[str, Any]:
    return {"Location": {"type": "string", "description": "The status link to poll (signed; needs no key)."},
            "Retry-After": {"type": "integer", "description": "Seconds to wait before polling."}}


def _status_operation() -> dict[str, Any]:
    problem = {"$ref": "#/definitions/Problem"}
    return {
        "operationId": "GetInvitationStatus",
        "summary": "Get an invitation's status",
        "description": "What happened to an accepted request, group by group: queued, added, already_member, or "
                       "failed with Graph's reason. Kept 30 days after the last change.",
        "x-ms-visibility": "advanced",
        "parameters": [{"name": "requestId", "in": "path", "required": True, "type": "string",
                        "pattern": REQUEST_ID_PATTERN, "maxLength": 128, "x-ms-summary": "Request ID",
                        "description": "The requestId of the invitation's answer."}],
        "responses": {
            "200": {"description": "Every group is done (added or already a member) or failed.",
                    "schema": {"$ref": "#/definitions/InvitationStatus"}, "headers": _request_id_header()},
            "202": {"description": "A group is still queued: poll Location after Retry-After.",
                    "schema": {"$ref": "#/definitions/InvitationStatus"},
                    "headers": {**_request_id_header(), **_poll_headers()}},
            "404": {"description": "No record for this requestId (never accepted, or expired).", "schema": problem,
                    "headers": _request_id_header()},
            "503": {"description": "The app's storage is unavailable; retry after Retry-After.", "schema": problem,
                    "headers": {**_request_id_header(),
                                "Retry-After": {"type": "integer", "description": "Seconds to wait."}}},
            "default": {"description": "An unexpected error, logged under requestId.", "schema": problem},
        },
    }


def _revoke_operation() -> dict[str, Any]:
    """DELETE /invitations/{requestId} (shared/revoke_api.py): end now the group access the request granted."""
    problem = {"$ref": "#/definitions/Problem"}
    revoked = {"type": "object", "required": ["requestId", "groups"], "properties": {
        "requestId": {"type": "string", "x-ms-summary": "Request ID"},
        "groups": {"type": "array", "x-ms-summary": "Groups", "items": {"type": "object", "properties": {
            "userId": {"type": "string", "x-ms-summary": "User ID"},
            "groupId": {"type": "string", "x-ms-summary": "Group ID"},
            "status": {"type": "string", "x-ms-summary": "Status",
                       "description": "removed or ended (done); removing or pending (left to the hourly expiry)."},
            "error": {"type": "string", "x-ms-summary": "Error"}}}}}}
    return {
        "operationId": "RevokeInvitationAccess",
        "summary": "End a request's group access now",
        "description": "Removes the guest from each group this request granted access to (a request with "
                       "accessUntil or accessDays); members added by anyone else are never touched.",
        "x-ms-visibility": "advanced",
        "parameters": [{"name": "requestId", "in": "path", "required": True, "type": "string",
                        "pattern": REQUEST_ID_PATTERN, "maxLength": 128, "x-ms-summary": "Request ID",
                        "description": "The requestId of the invitation whose access ends."}],
        "responses": {
            "200": {"description": "Every grant of the request is ended.", "schema": revoked,
                    "headers": _request_id_header()},
            "202": {"description": "Some removal is left to the hourly expiry (Graph throttled or busy).",
                    "schema": revoked, "headers": _request_id_header()},
            "400": {"description": "Not a request id.", "schema": problem, "headers": _request_id_header()},
            "404": {"description": "This app holds no grant for this requestId.", "schema": problem,
                    "headers": _request_id_header()},
            "default": {"description": "Graph, the identity platform or storage failed (a problem, with "
                                       "Retry-After when worth retrying).", "schema": problem},
        },
    }


def _status_schema() -> dict[str, Any]:
    string = {"type": "string"}
    return {
        "type": "object",
        "required": ["requestId", "status", "groups"],
        "properties": {
            "requestId": {**string, "x-ms-summary": "Request ID"},
            "status": {**string, "enum": ["pending", "succeeded", "failed"], "x-ms-summary": "Overall Status",
                       "description": "pending while a group is queued; failed when a group failed; else succeeded."},
            "email": {**string, "x-nullable": True, "x-ms-summary": "Email Address"},
            "userId": {**string, "x-nullable": True, "x-ms-summary": "User ID"},
            "invited": {"type": "boolean", "x-nullable": True, "x-ms-summary": "Invited"},
            "source": {**string, "x-nullable": True, "x-ms-summary": "Source",
                       "description": "The door that accepted it: http, queue, sharepoint, bulk (a cli.py bulk "
                                      "row) or cli (cli.py invite)."},
            "createdAt": {**string, "x-nullable": True, "x-ms-summary": "Accepted At"},
            "groups": {"type": "array", "items": {"$ref": "#/definitions/GroupProgress"}, "x-ms-summary": "Groups"},
        },
    }


def _group_progress_schema() -> dict[str, Any]:
    string = {"type": "string"}
    return {
        "type": "object",
        "required": ["groupId", "status", "attempts"],
        "properties": {
            "groupId": {**string, "format": "uuid", "x-ms-summary": "Group ID"},
            "status": {**string, "enum": ["queued", "added", "already_member", "failed"], "x-ms-summary": "Status"},
            "attempts": {"type": "integer", "x-ms-summary": "Attempts"},
            "updatedAt": {**string, "x-nullable": True, "x-ms-summary": "Updated At"},
            "nextAttemptAt": {**string, "x-ms-summary": "Next Attempt At",
                              "description": "While queued after a wait: when the next try is due."},
            "waitingFor": {**string, "x-ms-summary": "Waiting For",
                           "description": "replication-lag, graph-throttled or graph-unavailable."},
            "problem": {"type": "object", "x-ms-summary": "Problem",
                        "description": "Why it failed: type, status, code, graphRequestId, message.",
                        "properties": {"type": string, "status": {"type": "integer", "x-nullable": True},
                                       "code": string, "graphRequestId": {**string, "x-nullable": True},
                                       "message": string}},
        },
    }


def _request_id_header() -> dict[str, Any]:
    return {"x-request-id": {"type": "string", "description": "The requestId of this call."}}


def _request_schema() -> dict[str, Any]:
    schema = json_schema(INVITATION_FIELDS)
    schema["description"] = "Who to invite and where to add them. Only email is required; unknown fields are refused."
    for spec in INVITATION_FIELDS:
        _label(schema["properties"][spec.name], spec)
    return schema


def _label(property_schema: dict[str, Any], spec: Field) -> None:
    summary, visibility = LABELS[spec.name]
    property_schema["x-ms-summary"] = summary
    property_schema["x-ms-visibility"] = "important" if spec.required else visibility
    if spec.items is not None:
        property_schema["items"]["x-ms-summary"] = ITEM_LABELS[spec.name]


def _result_schema() -> dict[str, Any]:
    string = {"type": "string"}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["requestId", "email", "userId", "invited", "groups"],
        "properties": {
            "requestId": {**string, "x-ms-summary": "Request ID"},
            "email": {**string, "x-ms-summary": "Email Address"},
            "userId": {**string, "format": "uuid", "x-ms-summary": "User ID",
                       "description": "The directory object id of the guest (or existing user)."},
            "userType": {**string, "x-nullable": True, "x-ms-summary": "User Type", "description": "Guest or Member."},
            "invited": {"type": "boolean", "x-ms-summary": "Invited",
                        "description": "True when this call created an invitation."},
            "invitationStatus": {**string, "x-nullable": True, "x-ms-summary": "Invitation Status",
                                 "description": "PendingAcceptance, Accepted, Completed… (null when unknown)."},
            "inviteRedeemUrl": {**string, "x-nullable": True, "x-ms-summary": "Redeem URL",
                                "description": "The invitation's redemption link (null when no invitation was sent)."},
            "groups": {"type": "array", "items": {"$ref": "#/definitions/GroupStatus"}, "x-ms-summary": "Groups"},
            "accessUntil": {**string, "format": "date-time", "x-ms-summary": "Access Until",
                            "description": "When the group access ends (absent: it does not end)."},
        },
    }


def _group_status_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["groupId", "status"],
        "properties": {
            "groupId": {"type": "string", "format": "uuid", "x-ms-summary": "Group ID"},
            "status": {"type": "string", "enum": ["queued"], "x-ms-summary": "Status",
                       "description": "queued: the membership is added by the group-memberships queue."},
        },
    }


def _problem_schema() -> dict[str, Any]:
    kinds = [TYPE_PREFIX + kind for _, problem_kinds in PROBLEM_ANSWERS.values() for kind in problem_kinds]
    kinds += [TYPE_PREFIX + kind for kind in STATUS_PROBLEMS]
    kinds.append(TYPE_PREFIX + "internal-error")  # the "default" answer
    free = {"type": "object", "additionalProperties": True}
    return {
        "type": "object",
        "description": "RFC 9457 problem details (application/problem+json).",
        "required": ["type", "title", "status", "detail", "requestId"],
        "properties": {
            "type": {"type": "string", "x-ms-summary": "Problem Type", "enum": kinds},
            "title": {"type": "string", "x-ms-summary": "Title"},
            "status": {"type": "integer", "x-ms-summary": "Status"},
            "detail": {"type": "string", "x-ms-summary": "Detail"},
            "errors": {"type": "array", "items": {"$ref": "#/definitions/FieldError"}, "x-ms-summary": "Errors"},
            "requestId": {"type": "string", "x-ms-summary": "Request ID"},
            "limit": {"type": "integer", "x-ms-summary": "Size Limit (Bytes)"},
            "settings": {"type": "array", "items": {}, "x-ms-summary": "Settings Involved",
                         "description": "Names (403) or {name, message} objects (503) of the app settings."},
            "requiredPermission": {"type": "string", "x-ms-summary": "Missing Graph Permission"},
            "graphError": {**free, "x-ms-summary": "Graph Error",
                           "description": "Graph's status, code, message and graphRequestId."},
            "credentialError": {**free, "x-ms-summary": "Credential Error"},
        },
    }


def _field_error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["field", "message"],
        "properties": {
            "field": {"type": "string", "x-ms-summary": "Field", "description": "JSON path, e.g. groupIds[2]."},
            "message": {"type": "string", "x-ms-summary": "Message"},
        },
    }
