"""The one way to point the app at a simulated tenant (tests and benchmarks): the app settings for a credential mode,
and :func:`point_app_at`, which puts them in the process environment and resets the application context."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from shared import app_context
from shared.app_context import Timing
from simulator import Simulator

# Every setting a test may set: cleared first, so nothing leaks from the developer's shell or another test.
APP_SETTINGS = (
    "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET",
    "AZURE_AUTHORITY_HOST", "GRAPH_ENDPOINT", "INVITE_REDIRECT_URL", "ALLOWED_GROUP_IDS", "ALLOWED_EMAIL_DOMAINS",
    "BLOCKED_EMAIL_DOMAINS", "ALLOW_MEMBER_USERS", "ALLOWED_REDIRECT_HOSTS", "LOG_PII", "MSAL_FORCE_REGION",
    "AZURE_REGIONAL_AUTHORITY_NAME",
    "SHAREPOINT_SITE_URL", "SHAREPOINT_LIST_ID", "SHAREPOINT_CLIENT_STATE", "SHAREPOINT_NOTIFICATION_URL",
    "DEFAULT_ACCESS_DAYS", "MAX_ACCESS_DAYS", "EXPIRY_REMINDER_DAYS", "SPONSORS_ENABLED", "OFFBOARDING_ACTION",
    "OFFBOARDING_GRACE_DAYS",
)
MODES = ("secret", "pem", "pfx", "system", "user")


def simulator_settings(sim: Simulator, mode: str = "secret", **overrides: str | None) -> dict[str, str | None]:
    """The app settings for one credential mode against ``sim``: 'secret', 'pem', 'pfx' (the app registrations),
    'system' or 'user' (the managed identities). Any group is allowed unless overridden; None unsets a setting."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    settings: dict[str, str | None] = {"AZURE_AUTHORITY_HOST": sim.authority_host,
                                       "GRAPH_ENDPOINT": sim.graph_endpoint, "ALLOWED_GROUP_IDS": "*"}
    registration = sim.identity.cert_app if mode in ("pem", "pfx") else sim.identity.default_app
    if mode in ("secret", "pem", "pfx"):
        settings |= {"AZURE_TENANT_ID": sim.tenant_id, "AZURE_CLIENT_ID": registration.client_id}
    if mode == "secret":
        settings["AZURE_CLIENT_SECRET"] = registration.secret
    elif mode == "pem":
        settings["AZURE_CLIENT_CERTIFICATE_PATH"] = str(registration.certificate_path)
    elif mode == "pfx":
        settings |= {"AZURE_CLIENT_CERTIFICATE_PATH": str(registration.certificate_pfx_path),
                     "AZURE_CLIENT_CERTIFICATE_PASSWORD": registration.certificate_password}
    elif mode in ("system", "user"):
        settings |= {"IDENTITY_ENDPOINT": sim.identity_endpoint, "IDENTITY_HEADER": sim.identity_header}
        if mode == "user":
            settings["AZURE_CLIENT_ID"] = sim.identity.user_identity.client_id
    return settings | overrides


def point_app_at(sim: Simulator, monkeypatch: pytest.MonkeyPatch, mode: str = "secret", *,
                 timing: Timing | None = None, clear: tuple[str, ...] = (),
                 **overrides: str | None) -> dict[str, str | None]:
    """Clear every app setting (and ``clear``), set those of :func:`simulator_settings`, and reset the application
    context so the next invocation builds everything from them. Returns the settings applied."""
    settings = simulator_settings(sim, mode, **overrides)
    for name in (*APP_SETTINGS, *clear):
        monkeypatch.delenv(name, raising=False)
    apply(settings, monkeypatch)
    app_context.reset(timing=timing)
    return settings


def apply(settings: Mapping[str, str | None], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in settings.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
