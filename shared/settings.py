"""The app's settings: read from the environment once, validated, frozen.

The setting names are a contract with operators and the deployment templates (infra/); a bad value fails
loudly with a :class:`SettingsError` naming every offending setting.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from .email_address import ascii_domain

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_GRAPH_ENDPOINT = "https://graph.microsoft.com"
DEFAULT_INVITE_REDIRECT_URL = "https://myapplications.microsoft.com"
# Microsoft's own My Apps portal (the Azure portal's bulk-invite template uses https://myapps.microsoft.com): allowed
# as a redirectUrl host by default, beside INVITE_REDIRECT_URL's host; it sends no one anywhere else.
MY_APPS_HOSTS = ("myapps.microsoft.com", "myapplications.microsoft.com")

# Every environment setting the app reads (the contract with operators and infra/; tests/deploy checks the Bicep).
SETTING_NAMES = (
    "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_AUTHORITY_HOST", "GRAPH_ENDPOINT", "INVITE_REDIRECT_URL",
    "ALLOWED_GROUP_IDS", "ALLOWED_EMAIL_DOMAINS", "BLOCKED_EMAIL_DOMAINS", "ALLOW_MEMBER_USERS",
    "ALLOWED_REDIRECT_HOSTS", "LOG_PII",
    "AzureWebJobsStorage",
    "INVITE_CLAIM_SECONDS",
    # Optional; the SharePoint list webhooks check them where they are used (shared/sharepoint/config.py).
    "SHAREPOINT_SITE_URL", "SHAREPOINT_LIST_ID", "SHAREPOINT_CLIENT_STATE", "SHAREPOINT_NOTIFICATION_URL",
    # Guest lifecycle (docs/lifecycle.md): access periods, reminders, sponsors, offboarding; all optional.
    "DEFAULT_ACCESS_DAYS", "MAX_ACCESS_DAYS", "EXPIRY_REMINDER_DAYS", "SPONSORS_ENABLED", "OFFBOARDING_ACTION",
    "OFFBOARDING_GRACE_DAYS",
)
OFFBOARDING_ACTIONS = ("none", "disable", "delete")
MAX_DAYS = 3650

_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TENANT_DOMAIN = re.compile(r"^[a-z0-9.-]{1,253}$")
_SETTING_TRUE = {"1", "true", "yes", "on"}
_SETTING_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(Exception):
    """One or more settings are missing or malformed. ``problems`` maps each setting name to what is wrong."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.problems.items()))

    @property
    def names(self) -> list[str]:
        return list(self.problems)


class CredentialMode(StrEnum):
    SECRET = "secret"  # noqa: S105 (a mode name, not a secret)
    CERTIFICATE = "certificate"
    MANAGED_IDENTITY = "managed_identity"


@dataclass(frozen=True)
class Settings:
    credential_mode: CredentialMode
    tenant_id: str | None
    client_id: str | None
    client_secret: str | None = field(repr=False)
    certificate_path: str | None
    certificate_password: str | None = field(repr=False)
    authority_host: str = DEFAULT_AUTHORITY_HOST
    graph_endpoint: str = DEFAULT_GRAPH_ENDPOINT
    invite_redirect_url: str = DEFAULT_INVITE_REDIRECT_URL
    allow_any_group: bool = False
    allowed_group_ids: frozenset[str] = frozenset()
    allowed_email_domains: tuple[str, ...] = ()
    blocked_email_domains: tuple[str, ...] = ()
    allow_member_users: bool = False  # group-memberships may add internal members (userType Member), not only guests
    # Hosts a request's redirectUrl may name (patterns as the domain lists); default: INVITE_REDIRECT_URL's host and
    # MY_APPS_HOSTS.
    allowed_redirect_hosts: tuple[str, ...] = ()
    log_pii: bool = False
    # How long a claim on an address holds off other invitations of it (shared/claims.py explains the default).
    invite_claim_seconds: int = 180
    # SharePoint list webhooks: optional; shared/sharepoint/config.py says which feature needs which.
    sharepoint_site_url: str | None = None
    sharepoint_list_id: str | None = None
    sharepoint_client_state: str | None = field(default=None, repr=False)
    sharepoint_notification_url: str | None = None
    # What is wrong with a malformed SharePoint setting (name -> reason; the value is then None). Kept apart, so one
    # bad SharePoint setting does not take the invitation endpoint down: the SharePoint features raise it where they
    # run (shared/sharepoint/config.py), and the doctor reports it.
    sharepoint_problems: tuple[tuple[str, str], ...] = ()
    # Guest lifecycle: None days = no expiry (as before); reminders N days before the end (0 = none).
    default_access_days: int | None = None
    max_access_days: int | None = None
    expiry_reminder_days: int = 0
    sponsors_enabled: bool = False
    offboarding_action: str = "none"  # "none" | "disable" (block sign-in) | "delete"
    offboarding_grace_days: int = 0

    @property
    def graph_scope(self) -> str:
        return f"{self.graph_endpoint}/.default"

    @property
    def graph_base_url(self) -> str:
        return f"{self.graph_endpoint}/v1.0"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build the settings from ``environ`` (os.environ in the app); raise SettingsError naming every problem."""
        reader = _Reader(environ)
        sharepoint = _Reader(environ)  # optional feature: its problems are not the app's (see sharepoint_problems)
        mode, tenant_id, client_id, secret, cert_path, cert_password = _credential_settings(reader)
        allow_any, group_ids = _group_ids(reader, "ALLOWED_GROUP_IDS")
        invite_redirect_url = reader.https_url("INVITE_REDIRECT_URL", DEFAULT_INVITE_REDIRECT_URL)
        settings = cls(
            credential_mode=mode,
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=secret,
            certificate_path=cert_path,
            certificate_password=cert_password,
            authority_host=reader.https_url("AZURE_AUTHORITY_HOST", DEFAULT_AUTHORITY_HOST, origin_only=True),
            graph_endpoint=reader.https_url("GRAPH_ENDPOINT", DEFAULT_GRAPH_ENDPOINT, origin_only=True),
            invite_redirect_url=invite_redirect_url,
            allow_any_group=allow_any,
            allowed_group_ids=group_ids,
            allowed_email_domains=reader.domains("ALLOWED_EMAIL_DOMAINS"),
            blocked_email_domains=reader.domains("BLOCKED_EMAIL_DOMAINS"),
            allow_member_users=reader.boolean("ALLOW_MEMBER_USERS", default=False),
            allowed_redirect_hosts=(reader.domains("ALLOWED_REDIRECT_HOSTS")
                                    or (urlsplit(invite_redirect_url).hostname or "", *MY_APPS_HOSTS)),
            log_pii=reader.boolean("LOG_PII", default=False),
            invite_claim_seconds=reader.integer("INVITE_CLAIM_SECONDS", default=180, low=1, high=3600),
            sharepoint_site_url=sharepoint.valid(sharepoint.optional_https_url, "SHAREPOINT_SITE_URL"),
            sharepoint_list_id=sharepoint.valid(sharepoint.guid, "SHAREPOINT_LIST_ID"),
            sharepoint_client_state=sharepoint.text("SHAREPOINT_CLIENT_STATE"),
            sharepoint_notification_url=sharepoint.valid(sharepoint.optional_https_url, "SHAREPOINT_NOTIFICATION_URL"),
            sharepoint_problems=tuple(sharepoint.problems.items()),
            default_access_days=reader.days("DEFAULT_ACCESS_DAYS", minimum=1),
            max_access_days=reader.days("MAX_ACCESS_DAYS", minimum=1),
            expiry_reminder_days=reader.days("EXPIRY_REMINDER_DAYS", minimum=0) or 0,
            sponsors_enabled=reader.boolean("SPONSORS_ENABLED", default=False),
            offboarding_action=reader.choice("OFFBOARDING_ACTION", OFFBOARDING_ACTIONS),
            offboarding_grace_days=reader.days("OFFBOARDING_GRACE_DAYS", minimum=0) or 0,
        )
        if (settings.default_access_days and settings.max_access_days
                and settings.default_access_days > settings.max_access_days):
            reader.fail("DEFAULT_ACCESS_DAYS", "is more than MAX_ACCESS_DAYS")
        if reader.problems:
            raise SettingsError(reader.problems)
        return settings


def _credential_settings(reader: _Reader) -> tuple:
    secret = reader.text("AZURE_CLIENT_SECRET")
    cert_path = reader.text("AZURE_CLIENT_CERTIFICATE_PATH")
    cert_password = reader.text("AZURE_CLIENT_CERTIFICATE_PASSWORD")
    client_id = reader.guid("AZURE_CLIENT_ID")
    tenant_id = reader.tenant("AZURE_TENANT_ID")
    if secret and cert_path:
        reader.fail("AZURE_CLIENT_CERTIFICATE_PATH", "set either AZURE_CLIENT_SECRET or a certificate, not both")
    if secret or cert_path:
        mode = CredentialMode.SECRET if secret else CredentialMode.CERTIFICATE
        for name, value in (("AZURE_TENANT_ID", tenant_id), ("AZURE_CLIENT_ID", client_id)):
            if not value and name not in reader.problems:
                reader.fail(name, f"required with {'AZURE_CLIENT_SECRET' if secret else 'a client certificate'}")
    else:
        mode = CredentialMode.MANAGED_IDENTITY
        if cert_password:
            reader.fail("AZURE_CLIENT_CERTIFICATE_PASSWORD", "set without AZURE_CLIENT_CERTIFICATE_PATH")
    return mode, tenant_id, client_id, secret, cert_path, cert_password


def _group_ids(reader: _Reader, name: str) -> tuple[bool, frozenset[str]]:
    raw = reader.text(name) or ""
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if items == ["*"]:
        return True, frozenset()
    ids = set()
    for item in items:
        try:
            ids.add(str(uuid.UUID(item)))
        except ValueError:
            reader.fail(name, f"{item!r} is not a group id (GUID); use a comma-separated list of ids, or '*'")
    return False, frozenset(ids)


class _Reader:
    """Reads raw values and records problems instead of stopping at the first one."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: dict[str, str] = {}

    def fail(self, name: str, message: str) -> None:
        # Names and reasons only, never the value: a URL setting can carry a key (SHAREPOINT_NOTIFICATION_URL holds
        # the function key), and these messages reach 503 answers, the health report and logs.
        self.problems.setdefault(name, message)

    def valid(self, read: Callable[[str], str | None], name: str) -> str | None:
        """``read(name)``, or None when it recorded a problem (a malformed value is never used)."""
        value = read(name)
        return None if name in self.problems else value

    def text(self, name: str) -> str | None:
        value = (self.environ.get(name) or "").strip()
        return value or None

    def guid(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        parsed = _as_guid(value)
        if parsed is None:
            self.fail(name, "is not a GUID")
        return parsed

    def tenant(self, name: str) -> str | None:
        """A tenant id (GUID) or a tenant domain name (contoso.onmicrosoft.com)."""
        value = self.text(name)
        if value is None:
            return None
        parsed = _as_guid(value)
        if parsed is None and _TENANT_DOMAIN.match(value.lower()) and "." in value:
            parsed = value.lower()
        if parsed is None:
            self.fail(name, "is neither a tenant id (GUID) nor a tenant domain name")
        return parsed

    def https_url(self, name: str, default: str, *, origin_only: bool = False) -> str:
        value = (self.text(name) or default).rstrip("/")
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            self.fail(name, "is not an absolute https URL")
        elif origin_only and (parts.path or parts.query or parts.fragment):
            self.fail(name, f"must be scheme and host only (e.g. {default})")
        return value

    def optional_https_url(self, name: str) -> str | None:
        return self.https_url(name, "") if self.text(name) else None

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value.lower() in _SETTING_TRUE:
            return True
        if value.lower() in _SETTING_FALSE:
            return False
        self.fail(name, "is not a boolean (true or false)")
        return default

    def integer(self, name: str, *, default: int, low: int, high: int) -> int:
        value = self.text(name)
        if value is None:
            return default
        if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
            self.fail(name, f"is not a whole number of seconds from {low} to {high}")
            return default
        return int(value)

    def days(self, name: str, *, minimum: int) -> int | None:
        """A whole number of days, or None when unset."""
        value = self.text(name)
        if value is None:
            return None
        if not (value.isascii() and value.isdigit()) or not minimum <= int(value) <= MAX_DAYS:
            self.fail(name, f"is not a whole number of days from {minimum} to {MAX_DAYS}")
            return None
        return int(value)

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        value = (self.text(name) or choices[0]).lower()
        if value not in choices:
            self.fail(name, f"is not one of {', '.join(choices)}")
            return choices[0]
        return value

    def domains(self, name: str) -> tuple[str, ...]:
        raw = self.text(name) or ""
        result = []
        for position, item in enumerate((part.strip().lower() for part in raw.split(",")), start=1):
            if not item:
                continue
            wildcard, bare = ("*.", item[2:]) if item.startswith("*.") else ("", item)
            if not bare.isascii():  # the same UTS 46 form addresses get, or a listed IDN would never match
                bare, why = ascii_domain(bare)
                if why:
                    self.fail(name, f"item {position} {why}")
                    continue
                item = wildcard + bare
            labels = bare.split(".")
            if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
                self.fail(name, f"item {position} is not a domain name or '*.domain' pattern")
                continue
            result.append(item)
        return tuple(result)


def _as_guid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
