"""The errors of SharePoint's two doors, each in its own wire format.

Graph's sites/lists/items answers come from SharePoint behind Graph and use Graph's body with SharePoint's
camelCase codes (MGDC concepts/errors.md: accessDenied, itemNotFound, invalidRequest, nameAlreadyExists,
resourceModified, resyncRequired). SharePoint REST (``/_api``) uses its own body, whose shape depends on the
Accept header: ``{"error": …}`` for ``odata=verbose``, ``{"odata.error": …}`` for JSON light (the default).
"""

from __future__ import annotations

from ..errors import GraphError, ServiceError
from ..wire import Request, Response

# ---- Graph (sites, lists, items) ----------------------------------------------------------------------------


def access_denied() -> GraphError:
    return GraphError(403, "accessDenied", "Access denied")


def site_not_found() -> GraphError:
    return GraphError(404, "itemNotFound", "Requested site could not be found")


def list_not_found() -> GraphError:
    return GraphError(404, "itemNotFound", "The specified list was not found")


def item_not_found() -> GraphError:
    return GraphError(404, "itemNotFound", "The resource could not be found.")


def invalid_request(message: str) -> GraphError:
    return GraphError(400, "invalidRequest", message)


def list_name_taken() -> GraphError:
    # SharePoint's own text for a duplicate list title, passed through by Graph.
    return GraphError(409, "nameAlreadyExists", "A list, survey, discussion board, or document library with the "
                      "specified title already exists in this Web site.  Please choose another title.")


def etag_mismatch() -> GraphError:
    # MGDC concepts/errors.md: resourceModified, "usually an eTag mismatch"; 412 Precondition Failed.
    return GraphError(412, "resourceModified", "The resource has changed since the caller last read it; "
                      "usually an eTag mismatch")


class ResyncRequired(GraphError):
    """410 Gone with a Location that starts a fresh enumeration (MGDC api/listitem-delta.md)."""

    def __init__(self, location: str) -> None:
        super().__init__(410, "resyncRequired", "Resync required. Replace any local items with the server's "
                         "version (including deletes) if you're sure that the service was up to date with your local "
                         "changes when you last sync'd. Upload any local changes that the server doesn't know about.",
                         {"Location": location})

    def body(self, request_id: str, client_request_id: str) -> dict:
        body = super().body(request_id, client_request_id)
        body["error"]["innerError"]["code"] = "resyncChangesApplyDifferences"
        return body


# ---- SharePoint REST (/_api) --------------------------------------------------------------------------------

ACCESS_DENIED_CODE = "-2147024891, System.UnauthorizedAccessException"
ACCESS_DENIED_TEXT = "Access denied. You do not have permission to perform this action or access this resource."


class SharePointRestError(ServiceError):
    """``{"error":{"code","message":{"lang","value"}}}`` (verbose) or ``{"odata.error": …}`` (JSON light)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def to_response(self, request: Request, request_id: str) -> Response:
        accept = (request.headers.get("Accept") or "").lower()
        key = "error" if "odata=verbose" in accept else "odata.error"
        payload = {key: {"code": self.code, "message": {"lang": "en-US", "value": self.message}}}
        response = Response.json(self.status, payload)
        verbose = "odata=verbose" in accept
        response.headers["Content-Type"] = (
            "application/json;odata=verbose;charset=utf-8" if verbose
            else "application/json;odata=minimalmetadata;streaming=true;charset=utf-8")
        return response


class SharePointAuthError(ServiceError):
    """SharePoint Online's 401: ``{"error_description": "…"}`` with a Bearer challenge naming the tenant."""

    status = 401

    def __init__(self, description: str, tenant_id: str) -> None:
        super().__init__(description)
        self.description = description
        self.tenant_id = tenant_id

    def to_response(self, request: Request, request_id: str) -> Response:
        return Response.json(401, {"error_description": self.description}, {
            "WWW-Authenticate": f'Bearer realm="{self.tenant_id}",client_id="00000003-0000-0ff1-ce00-000000000000",'
                                f'trusted_issuers="00000001-0000-0000-c000-000000000000@*"'})


def rest_access_denied() -> SharePointRestError:
    return SharePointRestError(403, ACCESS_DENIED_CODE, ACCESS_DENIED_TEXT)


def rest_list_not_found() -> SharePointRestError:
    return SharePointRestError(404, "-1, System.ArgumentException", "List does not exist.\n\nThe page you selected "
                               "contains a list that does not exist.  It may have been deleted by another user.")


def rest_subscription_not_found(subscription_id: str) -> SharePointRestError:
    # The exact text is not documented publicly; the status is what clients act on.
    return SharePointRestError(404, "-1, System.ArgumentException", f"Subscription '{subscription_id}' not found.")


def validation_failed(url: str) -> SharePointRestError:
    # The text SharePoint answers when the handshake fails (sp-dev-docs issues #3430, #2658, #7484).
    return SharePointRestError(400, "-1, System.InvalidOperationException",
                               f"Failed to validate the notification URL '{url}'.")


def invalid_expiration() -> SharePointRestError:
    # Text as reported publicly (office-docs-powershell#1403, pnp/powershell#1004); the code is not documented.
    return SharePointRestError(400, "-1, System.ArgumentException",
                               "The specified expiration date is invalid. Should be greater than today and within "
                               "6 months")


def rest_bad_request(message: str) -> SharePointRestError:
    return SharePointRestError(400, "-1, System.ArgumentException", message)
