"""Errors that know their own wire format, as the real services render them.

A handler raises one of these; the server turns it into the response the real service would send.
"""

from __future__ import annotations

import datetime as dt
import uuid

from .wire import Request, Response


def utc_timestamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


class ServiceError(Exception):
    """Base class: subclasses render the body their service uses."""

    status = 500

    def to_response(self, request: Request, request_id: str) -> Response:
        raise NotImplementedError


class GraphError(ServiceError):
    """Microsoft Graph's error body (MGDC concepts/errors.md):
    ``{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self, request_id: str, client_request_id: str) -> dict:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": utc_timestamp(),
                    "request-id": request_id,
                    "client-request-id": client_request_id,
                },
            }
        }

    def to_response(self, request: Request, request_id: str) -> Response:
        client_request_id = request.headers.get("client-request-id") or request_id
        return Response.json(self.status, self.body(request_id, client_request_id), self.headers)


# The errors most routes share, named as Graph names them.
def invalid_token(message: str = "Access token validation failure. Invalid audience.") -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message)


def insufficient_privileges() -> GraphError:
    return GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def too_many_requests(retry_after: int | None) -> GraphError:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return GraphError(429, "TooManyRequests", "Please retry again later.", headers)


class EntraError(ServiceError):
    """The Microsoft identity platform's OAuth error body: error, error_description (with the AADSTS code and
    trace/correlation ids), error_codes, timestamp, trace_id, correlation_id, error_uri."""

    def __init__(self, status: int, error: str, aadsts: int, description: str) -> None:
        super().__init__(f"{error} AADSTS{aadsts}: {description}")
        self.status = status
        self.error = error
        self.aadsts = aadsts
        self.description = description

    def to_response(self, request: Request, request_id: str) -> Response:
        now = dt.datetime.now(dt.UTC)
        timestamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
        description = (
            # Entra separates these with CRLF (seen in every quoted body, e.g. Azure/azure-cli#22145).
            f"AADSTS{self.aadsts}: {self.description}\r\nTrace ID: {request_id}\r\n"
            f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"
        )
        return Response.json(
            self.status,
            {
                "error": self.error,
                "error_description": description,
                "error_codes": [self.aadsts],
                "timestamp": timestamp,
                "trace_id": request_id,
                "correlation_id": correlation_id,
                "error_uri": f"{request.base_url}/error?code={self.aadsts}",
            },
            {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"},
        )
