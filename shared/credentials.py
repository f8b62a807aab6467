"""Access tokens for Graph: MSAL (client secret or certificate) or azure-identity's ManagedIdentityCredential.

One provider per process (see :mod:`shared.runtime`); each library keeps its own token cache and only calls the
identity platform when the cached token nears expiry. MSAL is pointed at ``{AZURE_AUTHORITY_HOST}/{tenant}``
with instance discovery off, so it calls no host but the authority host (national clouds, the simulator).
azure-identity is imported only in managed identity mode: the other modes do not pay its import cost.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import requests

from .settings import CredentialMode, Settings, SettingsError

TOKEN_TIMEOUT_SECONDS = 15
# OAuth errors that retrying will not fix (RFC 6749 section 5.2; Entra adds invalid_resource).
_PERMANENT_OAUTH_ERRORS = {"invalid_client", "unauthorized_client", "invalid_request", "invalid_scope",
                           "invalid_grant", "unsupported_grant_type", "invalid_resource"}


class CredentialError(Exception):
    """No token: ``transient`` says whether trying again later may help (network, 5xx) or not (bad credential);
    ``retry_after`` is the wait the identity endpoint asked for (seconds), when it named one."""

    def __init__(self, message: str, *, code: str, transient: bool, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = transient
        self.retry_after = retry_after


class TokenProvider(Protocol):
    def token(self) -> str:
        """A valid access token for Graph (from the cache when possible)."""

    def invalidate(self) -> None:
        """Forget the cached token (Graph answered 401), so the next ``token()`` fetches a new one."""


class MsalTokenProvider:
    """Client credentials through one ``msal.ConfidentialClientApplication`` (secret or certificate)."""

    def __init__(self, settings: Settings, client_credential: Any) -> None:
        import msal
        from msal.exceptions import MsalServiceError

        self._scopes = [settings.graph_scope]
        self._lock = threading.Lock()
        self._service_error = MsalServiceError
        try:
            self._app = msal.ConfidentialClientApplication(
                settings.client_id,
                client_credential=client_credential,
                authority=f"{settings.authority_host}/{settings.tenant_id}",
                instance_discovery=False,  # no call to login.microsoftonline.com to "validate" another host
                azure_region=False,  # no regional endpoint (ESTS-R) detection either
                timeout=TOKEN_TIMEOUT_SECONDS,
            )
        # The OpenID configuration fetch failed: no answer, a 4xx (ValueError), or a 5xx (MsalServiceError, raised by
        # msal's authority.tenant_discovery).
        except (requests.RequestException, ValueError, MsalServiceError) as error:
            raise CredentialError(f"cannot reach the authority {settings.authority_host}: {_failure(error)}",
                                  code="authorityUnavailable", transient=True) from error

    def token(self) -> str:
        with self._lock:  # one fetch when concurrent invocations all find the cache empty
            try:
                result = self._app.acquire_token_for_client(self._scopes)
            # No answer, or a 5xx (msal's oauth2cli raises MsalServiceError "HTTP Error: 5xx" instead of a result).
            except (requests.RequestException, self._service_error) as error:
                raise CredentialError(f"token request failed: {_failure(error)}", code="tokenRequestFailed",
                                      transient=True) from error
        if "access_token" in result:
            return result["access_token"]
        error = result.get("error", "unknown_error")
        codes = ",".join(f"AADSTS{code}" for code in result.get("error_codes") or [])
        raise CredentialError(f"the identity platform refused the token request: {error} {codes}".strip(),
                              code=error, transient=error not in _PERMANENT_OAUTH_ERRORS)

    def invalidate(self) -> None:
        cache = self._app.token_cache
        with self._lock:
            for item in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(item)


def _seconds(value: str | None) -> int | None:
    """A Retry-After of delay-seconds; a date or anything else counts as not given."""
    return int(value) if value and value.strip().isdigit() and len(value.strip()) <= 6 else None


def _failure(error: Exception) -> str:
    """The exception's type, and for msal's MsalServiceError its "HTTP Error: <status>" (no other text: a library's
    message might quote a request)."""
    status = str(error.args[0]) if type(error).__name__ == "MsalServiceError" and error.args else ""
    return f"{type(error).__name__} ({status})" if status.startswith("HTTP Error") else type(error).__name__


class ManagedIdentityTokenProvider:
    """azure-identity ``ManagedIdentityCredential``: system-assigned, or user-assigned with AZURE_CLIENT_ID."""

    # The platform caches managed identity tokens per resource for about 24 h: a role granted meanwhile may not be
    # in the token yet (azure-docs overview-managed-identity.md). The failure policy says so on a 403.
    platform_token_cache = True

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._last_answer = threading.local()  # the endpoint's last status and Retry-After, per calling thread
        self._credential = self._build()

    def _build(self) -> Any:
        from azure.identity import ManagedIdentityCredential  # lazy: only this mode pays the import

        # azure-identity turns an endpoint's 5xx or 429 into CredentialUnavailableError, the same type as "no managed
        # identity here" (its message even says so), so the status is taken from azure-core's documented
        # raw_response_hook: a busy platform is worth a retry, a missing identity is not.
        # retry_status=0: azure-core would otherwise sleep out each Retry-After three times inside the call (21 s for
        # a 7 s one), past the HTTP and queue budgets; the doors wait instead (503 + Retry-After, a redelivery).
        kwargs: dict[str, Any] = {"raw_response_hook": self._remember_answer, "retry_status": 0}
        if self._settings.client_id:
            return ManagedIdentityCredential(client_id=self._settings.client_id, **kwargs)
        return ManagedIdentityCredential(**kwargs)

    def _remember_answer(self, response: Any) -> None:
        answer = response.http_response
        self._last_answer.status = answer.status_code
        self._last_answer.retry_after = _seconds(answer.headers.get("Retry-After"))

    def token(self) -> str:
        from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError
        from azure.identity import CredentialUnavailableError

        with self._lock:
            credential = self._credential
        self._last_answer.status = self._last_answer.retry_after = None
        try:
            return credential.get_token(self._settings.graph_scope).token
        except CredentialUnavailableError as error:
            status = self._last_answer.status
            if status is not None and (status == 429 or status >= 500):
                raise CredentialError(f"the managed identity endpoint is busy or failing (HTTP {status})",
                                      code="identityEndpointUnavailable", transient=True,
                                      retry_after=self._last_answer.retry_after) from error
            raise CredentialError(f"managed identity unavailable: {error.message}", code="identityUnavailable",
                                  transient=False) from error
        except ClientAuthenticationError as error:
            status = getattr(error.response, "status_code", None)
            raise CredentialError(f"managed identity token request refused (HTTP {status})",
                                  code="identityRefused", transient=status is None or status >= 500) from error
        except (ServiceRequestError, ServiceResponseError) as error:
            raise CredentialError("managed identity endpoint unreachable", code="identityUnreachable",
                                  transient=True) from error
        except ValueError as error:  # not JSON (a front end's HTML 502): msal's parser raises, azure-identity re-raises
            raise CredentialError("the managed identity endpoint's answer is not JSON", code="identityUnreadable",
                                  transient=True) from error

    def invalidate(self) -> None:
        # ManagedIdentityCredential has no public way to drop its cached token: start a fresh credential.
        with self._lock:
            old, self._credential = self._credential, self._build()
        old.close()


def read_certificate(path: str, password: str | None) -> dict[str, str]:
    """MSAL's certificate credential from a PEM (key + certificate) or PFX/PKCS#12 file, read once."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    with open(path, "rb") as handle:
        data = handle.read()
    secret = password.encode("utf-8") if password else None
    if b"-----BEGIN" in data:
        key = serialization.load_pem_private_key(data, secret)
        certificate = x509.load_pem_x509_certificate(data)
    else:
        key, certificate, _ = pkcs12.load_key_and_certificates(data, secret)
        if key is None or certificate is None:
            raise ValueError("the PFX file must hold both the private key and the certificate")
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    # With public_certificate MSAL derives the SHA-256 thumbprint and sends x5c (subject name/issuer auth).
    return {"private_key": key_pem, "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode()}


def build_token_provider(settings: Settings) -> TokenProvider:
    if settings.credential_mode is CredentialMode.MANAGED_IDENTITY:
        return ManagedIdentityTokenProvider(settings)
    if settings.credential_mode is CredentialMode.SECRET:
        return MsalTokenProvider(settings, settings.client_secret)
    try:
        credential = read_certificate(settings.certificate_path, settings.certificate_password)
    except OSError as error:
        raise SettingsError({"AZURE_CLIENT_CERTIFICATE_PATH": f"cannot read the file: {error.strerror}"}) from error
    except (ValueError, TypeError) as error:  # not PEM/PFX, no key, or a wrong/missing password
        raise SettingsError({"AZURE_CLIENT_CERTIFICATE_PATH": "not a PEM or PFX file holding the private key and "
                             "its certificate, or AZURE_CLIENT_CERTIFICATE_PASSWORD is wrong"}) from error
    return MsalTokenProvider(settings, credential)
