"""The list webhook subscription through SharePoint REST (sp-dev-docs docs/apis/webhooks/lists/*-subscription.md):
create it (SharePoint first validates the notification URL), renew it before it expires (at most 180 days),
recreate it when it is gone. The token is for the SharePoint host (``https://contoso.sharepoint.com/.default``)
from the app's own credential; SharePoint REST refuses app-only tokens got with a client secret, so this needs a
certificate or a managed identity (sp-dev-docs solution-guidance/security-apponly-azuread.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from .. import app_context
from ..credentials import TokenProvider, build_token_provider
from ..logging_setup import log_event
from ..settings import Settings
from ..wire import parse_utc, utc_text
from . import config, storage
from .state import TABLE, SharePointState

MAX_LIFETIME = dt.timedelta(days=180)  # "should not be more than 180 days" (overview-sharepoint-webhooks.md)
CLOCK_MARGIN = dt.timedelta(minutes=10)  # ask a little less than 180 days: SharePoint judges by its own clock
RENEW_WHEN_LEFT = dt.timedelta(days=30)
TIMEOUT = (5.0, 30.0)
# SharePoint gives the validation handshake 5 s, and a Flex Consumption app scaled to zero takes longer to start:
# before SharePoint validates the URL it is woken with a handshake-shaped POST of its own, allowed a cold start.
WARM_TIMEOUT = (10.0, 60.0)
VALIDATION_FAILED = "failed to validate the notification url"  # SharePoint's 400 text (sp-dev-docs issues)



class SharePointRestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def sharepoint_tokens(settings: Settings, origin: str) -> TokenProvider:
    """The core's token provider, pointed at the SharePoint host: its scope is ``{origin}/.default``."""
    ctx = app_context.current()
    with ctx.lock:
        if origin not in ctx.sharepoint_tokens:
            ctx.sharepoint_tokens[origin] = build_token_provider(dataclasses.replace(settings, graph_endpoint=origin))
        return ctx.sharepoint_tokens[origin]


class SubscriptionsClient:
    def __init__(self, site: config.SiteAddress, list_id: str, tokens: TokenProvider,
                 session: requests.Session | None = None) -> None:
        self.base = f"{site.url}/_api/web/lists('{list_id}')/subscriptions"
        self.list_id = list_id
        self.site = site
        self.tokens = tokens
        self.session = session or requests.Session()

    def _call(self, method: str, url: str, body: dict[str, Any] | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.tokens.token()}", "Accept": "application/json;odata=nometadata"}
        answer = self.session.request(method, url, json=body, headers=headers, timeout=TIMEOUT)
        if answer.status_code >= 400 and answer.status_code != 404:
            raise SharePointRestError(answer.status_code, _error_text(answer))
        return answer

    def create(self, notification_url: str, client_state: str, expiration: dt.datetime) -> dict[str, Any]:
        body = {"resource": f"{self.site.url}/_api/web/lists('{self.list_id}')", "notificationUrl": notification_url,
                "expirationDateTime": utc_text(expiration), "clientState": client_state}
        answer = self._validated(notification_url, lambda: self._call("POST", self.base, body))
        if answer.status_code == 404:
            raise SharePointRestError(404, _error_text(answer))
        return answer.json()

    def get(self, subscription_id: str) -> dict[str, Any] | None:
        answer = self._call("GET", f"{self.base}('{subscription_id}')")
        return None if answer.status_code == 404 else answer.json()

    def renew(self, subscription_id: str, expiration: dt.datetime, notification_url: str | None = None) -> bool:
        body: dict[str, Any] = {"expirationDateTime": utc_text(expiration)}
        if notification_url:
            body["notificationUrl"] = notification_url
        def call() -> requests.Response:
            return self._call("PATCH", f"{self.base}('{subscription_id}')", body)

        # A new URL is validated by SharePoint like a new subscription; a plain renewal is not.
        return (self._validated(notification_url, call) if notification_url else call()).status_code != 404

    def _validated(self, notification_url: str, call: Any) -> requests.Response:
        """``call()``, which makes SharePoint validate ``notification_url``: warm the endpoint first, and try once
        more (warming again) when SharePoint says the validation failed."""
        for attempt in (1, 2):
            warm(notification_url)
            try:
                return call()
            except SharePointRestError as error:
                if attempt == 2 or error.status != 400 or VALIDATION_FAILED not in error.message.lower():
                    raise
                log_event("sharepoint.validation_retry", status=error.status)
        raise AssertionError("unreachable")


def warm(notification_url: str) -> bool:
    """Wake the app behind ``notification_url`` with what SharePoint's handshake sends (``?validationtoken=…``, no
    body: the webhook only echoes it), allowing a cold start; without the SharePoint token, which is not for it.
    True when it answered 200."""
    separator = "&" if "?" in notification_url else "?"
    target = f"{notification_url}{separator}validationtoken={quote('warm-up-' + uuid.uuid4().hex)}"
    started = dt.datetime.now(dt.UTC)
    try:
        answer = requests.post(target, data=b"", timeout=WARM_TIMEOUT, headers={"Content-Length": "0"})
        status: int | None = answer.status_code
    except requests.RequestException:
        status = None
    log_event("sharepoint.warmed", status=status,
              durationMs=round((dt.datetime.now(dt.UTC) - started).total_seconds() * 1000))
    return status == 200


@dataclass
class SubscriptionResult:
    action: str  # created | renewed | unchanged
    subscription_id: str
    expiration: str


def ensure_subscription(now: dt.datetime | None = None, client: SubscriptionsClient | None = None
                        ) -> SubscriptionResult:
    """Create the subscription, renew it when under 30 days remain (to ~180), or recreate it if it vanished.
    Its id lives in the state table: reading one's own subscription needs only edit rights on the list, while
    listing all of them needs full control (get-subscription.md)."""
    settings = app_context.current().settings()
    config.require(settings, "SHAREPOINT_SITE_URL", "SHAREPOINT_LIST_ID", "SHAREPOINT_CLIENT_STATE",
                   "SHAREPOINT_NOTIFICATION_URL")
    site = config.site_address(settings)
    list_id, url = settings.sharepoint_list_id or "", settings.sharepoint_notification_url or ""
    client = client or SubscriptionsClient(site, list_id, sharepoint_tokens(settings, site.origin))
    state = SharePointState(storage.table_client(TABLE))
    now = now or dt.datetime.now(dt.UTC)
    target = now + MAX_LIFETIME - CLOCK_MARGIN
    saved = state.subscription(list_id)
    current = client.get(saved["Id"]) if saved else None
    if current is None:
        created = client.create(url, settings.sharepoint_client_state or "", target)
        state.save_subscription(list_id, created)
        return _done("created", created["id"], created["expirationDateTime"])
    expires = parse_utc(current["expirationDateTime"])
    if expires is None:  # unreadable: renew, as for one about to expire
        expires = now
    moved = current.get("notificationUrl") != url
    if expires - now >= RENEW_WHEN_LEFT and not moved:
        return _done("unchanged", current["id"], current["expirationDateTime"])
    if not client.renew(current["id"], target, url if moved else None):
        created = client.create(url, settings.sharepoint_client_state or "", target)
        state.save_subscription(list_id, created)
        return _done("created", created["id"], created["expirationDateTime"])
    renewed = {**current, "expirationDateTime": utc_text(target), "notificationUrl": url}
    state.save_subscription(list_id, renewed)
    return _done("renewed", current["id"], renewed["expirationDateTime"])


def _done(action: str, subscription_id: str, expiration: str) -> SubscriptionResult:
    log_event("sharepoint.subscription", action=action, subscriptionId=subscription_id, expiration=expiration)
    return SubscriptionResult(action, subscription_id, expiration)




def _error_text(answer: requests.Response) -> str:
    """SharePoint's message: ``odata.error`` / ``error`` (REST) or ``error_description`` (its 401s)."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:300]
    error = (body.get("odata.error") or body.get("error")) if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        return str(message.get("value") if isinstance(message, dict) else message or error.get("code"))
    text = str(body.get("error_description") if isinstance(body, dict) else body)[:300]
    if "app only" in text.lower():
        text += " (SharePoint REST takes app-only tokens only from a certificate or a managed identity)"
    return text


def reset() -> None:
    """Kept for the test harnesses: app_context.reset() forgets these tokens with everything else."""
    ctx = app_context.current()
    with ctx.lock:
        ctx.sharepoint_tokens.clear()
