"""Errors of the identity services, rendered in each service's own wire format."""

from __future__ import annotations

import uuid

from ..errors import EntraError, ServiceError
from ..wire import Request, Response

__all__ = ["EntraError", "ManagedIdentityError", "tenant_not_found"]


class ManagedIdentityError(ServiceError):
    """The App Service identity endpoint's error body, ``{"statusCode","message","correlationId"}``, as seen in
    Azure/azure-sdk-for-net#43691 (the shape is not in the public docs; MSAL Python reads statusCode and message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message

    def to_response(self, request: Request, request_id: str) -> Response:
        correlation_id = str(uuid.uuid4())
        return Response.json(self.status, {"statusCode": self.status, "message": self.message,
                                           "correlationId": correlation_id},
                             {"X-CORRELATION-ID": correlation_id})


def tenant_not_found(tenant: str, error: str) -> EntraError:
    """AADSTS90002: ``invalid_tenant`` from the discovery documents, ``invalid_request`` from the token endpoint."""
    return EntraError(
        400, error, 90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the "
        "correct cloud. Check with your subscription administrator, this may happen if there are no active "
        "subscriptions for the tenant.",
    )
