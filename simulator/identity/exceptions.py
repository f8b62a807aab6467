"""Errors of the identity services, rendered in each service's own wire format."""

from __future__ import annotations

import uuid

from ..errors import EntraError, ServiceError
from ..wire import Request, Response

__all__ = ["EntraError", "ManagedIdentityError", "managed_identity_fault", "tenant_not_found"]


class ManagedIdentityError(ServiceError):
    """The App Service identity endpoint's error body, ``{"statusCode","message","correlationId"}``, as seen in
    Azure/azure-sdk-for-net#43691 (the shape is not in the public docs; MSAL Python reads statusCode and message)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.headers = dict(headers or {})

    def to_response(self, request: Request, request_id: str) -> Response:
        correlation_id = str(uuid.uuid4())
        return Response.json(self.status, {"statusCode": self.status, "message": self.message,
                                           "correlationId": correlation_id},
                             {"X-CORRELATION-ID": correlation_id, **self.headers})


# What the endpoint says when the platform itself fails (an injected fault): 500 is the text seen in
# Azure/azure-sdk-for-net#40848; the others are not in the public record (chosen, same body shape).
_FAULT_MESSAGES = {
    500: "An unexpected error occured while fetching the AAD Token.",
    429: "Too many requests. Please retry later.",
}


def managed_identity_fault(status: int, retry_after: int | None) -> ManagedIdentityError:
    message = _FAULT_MESSAGES.get(status, "The managed identity service is temporarily unavailable.")
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return ManagedIdentityError(status, message, headers)


def tenant_not_found(tenant: str, error: str) -> EntraError:
    """AADSTS90002: ``invalid_tenant`` from the discovery documents, ``invalid_request`` from the token endpoint."""
    return EntraError(
        400, error, 90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the "
        "correct cloud. Check with your subscription administrator, this may happen if there are no active "
        "subscriptions for the tenant.",
    )
