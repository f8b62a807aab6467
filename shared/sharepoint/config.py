"""Which SharePoint settings each SharePoint feature needs. They are optional for the rest of the app, so they
are checked where they are used, and a missing one fails naming the setting (as Settings does)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from ..settings import Settings, SettingsError

MIN_CLIENT_STATE_LENGTH = 16  # a shared secret: long enough not to be guessed (our rule; SharePoint sets none)

_ATTRIBUTES = {"SHAREPOINT_SITE_URL": "sharepoint_site_url", "SHAREPOINT_LIST_ID": "sharepoint_list_id",
               "SHAREPOINT_CLIENT_STATE": "sharepoint_client_state",
               "SHAREPOINT_NOTIFICATION_URL": "sharepoint_notification_url"}


@dataclass(frozen=True)
class SiteAddress:
    """https://contoso.sharepoint.com/sites/partners as Graph addresses it: hostname + server-relative path."""

    url: str
    hostname: str  # netloc: a port stays (the simulator's host has one)
    path: str

    @property
    def origin(self) -> str:
        return f"https://{self.hostname}"

    @classmethod
    def parse(cls, url: str) -> SiteAddress:
        parts = urlsplit(url.rstrip("/"))
        return cls(url.rstrip("/"), parts.netloc, parts.path or "/")


def require(settings: Settings, *names: str) -> None:
    """Raise SettingsError naming every required SharePoint setting that is not set (or too weak)."""
    malformed = dict(settings.sharepoint_problems)
    problems = {name: malformed.get(name) or "required for the SharePoint list webhooks (see docs/sharepoint.md)"
                for name in names if not getattr(settings, _ATTRIBUTES[name])}
    state = settings.sharepoint_client_state
    if "SHAREPOINT_CLIENT_STATE" in names and state and len(state) < MIN_CLIENT_STATE_LENGTH:
        problems["SHAREPOINT_CLIENT_STATE"] = f"must be at least {MIN_CLIENT_STATE_LENGTH} characters (a secret)"
    site = settings.sharepoint_site_url
    if "SHAREPOINT_SITE_URL" in names and site and not urlsplit(site).path.strip("/"):
        problems["SHAREPOINT_SITE_URL"] = "must name a site, e.g. https://contoso.sharepoint.com/sites/partners"
    if problems:
        raise SettingsError(problems)


def site_address(settings: Settings) -> SiteAddress:
    require(settings, "SHAREPOINT_SITE_URL")
    return SiteAddress.parse(settings.sharepoint_site_url or "")
