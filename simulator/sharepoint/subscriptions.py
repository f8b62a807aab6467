"""List webhook subscriptions (sp-dev-docs docs/apis/webhooks): create with the validation handshake, read,
renew, delete, and expiry on the simulated clock.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from . import exceptions

if TYPE_CHECKING:
    from .models import SharePointBackend, SpList

MAX_DAYS = 180  # "The expiration date should not be more than 180 days" (overview-sharepoint-webhooks.md)


def parse_datetime(value: Any) -> float:
    """An ISO 8601 date-time (with Z or an offset) as epoch seconds; ValueError otherwise."""
    if not isinstance(value, str) or not value:
        raise ValueError("not a date-time")
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def render_datetime(seconds: float, fraction: bool = False) -> str:
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.0000000Z" if fraction else "%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Subscription:
    id: str
    list_id: str
    notification_url: str
    expiration: float  # simulated epoch seconds
    client_state: str | None
    app_id: str | None  # the app that created it: only it may read, renew or delete it
    created: float

    def resource(self) -> dict[str, Any]:
        return {"clientState": self.client_state, "expirationDateTime": render_datetime(self.expiration),
                "id": self.id, "notificationUrl": self.notification_url, "resource": self.list_id,
                "resourceData": None}


@dataclass
class Handshake:
    url: str
    status: int | None
    ok: bool
    error: str | None = None


@dataclass
class Subscriptions:
    backend: SharePointBackend
    validation_timeout: float = 5.0  # "within 5 seconds" (cloud-facts, SharePoint list webhooks)
    items: dict[str, Subscription] = field(default_factory=dict)
    handshakes: list[Handshake] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def create(self, sp_list: SpList, body: dict[str, Any], app_id: str | None) -> Subscription:
        url = body.get("notificationUrl")
        if not isinstance(url, str) or not url.lower().startswith(("https://", "http://")):
            raise exceptions.rest_bad_request("The notificationUrl must be an absolute http(s) URL.")
        self._check_resource(sp_list, body.get("resource"))
        now = self.backend.sim.clock.now()
        expiration = self._expiration(body.get("expirationDateTime"), now)
        client_state = body.get("clientState")
        if client_state is not None and not isinstance(client_state, str):
            raise exceptions.rest_bad_request("The clientState must be a string.")
        self.validate_url(url)  # before anything is stored: no subscription unless the handshake succeeds
        subscription = Subscription(str(uuid.uuid4()), sp_list.id, url, expiration, client_state, app_id, now)
        with self.lock:
            self.items[subscription.id] = subscription
        return subscription

    def update(self, sp_list: SpList, subscription_id: str, body: dict[str, Any], app_id: str | None) -> None:
        subscription = self.get(sp_list, subscription_id, app_id)
        now = self.backend.sim.clock.now()
        expiration = self._expiration(body["expirationDateTime"], now) if "expirationDateTime" in body else None
        url = body.get("notificationUrl")
        if url is not None and url != subscription.notification_url:
            self.validate_url(url)  # a new URL is validated as on creation
        with self.lock:
            if expiration is not None:
                subscription.expiration = expiration
            if url is not None:
                subscription.notification_url = url
            if "clientState" in body:
                subscription.client_state = body["clientState"]

    def delete(self, sp_list: SpList, subscription_id: str, app_id: str | None) -> None:
        subscription = self.get(sp_list, subscription_id, app_id)
        with self.lock:
            self.items.pop(subscription.id, None)

    def get(self, sp_list: SpList, subscription_id: str, app_id: str | None) -> Subscription:
        """One subscription; "can only be retrieved by the Azure AD application that created it"."""
        with self.lock:
            subscription = self.items.get(subscription_id.lower())
            if (subscription is None or subscription.list_id != sp_list.id or not self._alive(subscription)
                    or (subscription.app_id or "").lower() != (app_id or "").lower()):
                raise exceptions.rest_subscription_not_found(subscription_id)
            return subscription

    def of_list(self, list_id: str) -> list[Subscription]:
        with self.lock:
            return [s for s in self.items.values() if s.list_id == list_id and self._alive(s)]

    def _alive(self, subscription: Subscription) -> bool:
        return subscription.expiration > self.backend.sim.clock.now()

    def _expiration(self, value: Any, now: float) -> float:
        if value is None:
            return now + MAX_DAYS * 86400  # "set to expire 180 days from when they are created" by default
        try:
            expiration = parse_datetime(value)
        except ValueError:
            raise exceptions.invalid_expiration() from None
        if not now < expiration <= now + MAX_DAYS * 86400:
            raise exceptions.invalid_expiration()
        return expiration

    @staticmethod
    def _check_resource(sp_list: SpList, resource: Any) -> None:
        # The body names the list (its API URL or its id); it must be the list in the request's path.
        if not isinstance(resource, str) or sp_list.id.lower() not in resource.lower():
            raise exceptions.rest_bad_request("The resource must identify the list the subscription is created on.")

    def validate_url(self, url: str) -> None:
        """POST ``{url}?validationtoken=…`` with no body; 200, text/plain, the token, within 5 s
        (overview-sharepoint-webhooks.md "Handling webhook validation requests")."""
        token = str(uuid.uuid4())
        target = f"{url}{'&' if '?' in url else '?'}validationtoken={quote(token)}"
        status = None
        try:
            answer = requests.post(target, data=b"", timeout=self.validation_timeout,
                                   headers={"Content-Length": "0", "User-Agent": "Microsoft-SharePoint/16.0"})
            status = answer.status_code
            content_type = answer.headers.get("Content-Type", "").split(";")[0].strip().lower()
            ok = status == 200 and content_type == "text/plain" and answer.text.strip() == token
            error = None if ok else f"status {status}, Content-Type {content_type or '-'}, body did not echo the token"
        except requests.RequestException as caught:
            ok, error = False, type(caught).__name__
        with self.lock:
            self.handshakes.append(Handshake(url, status, ok, error))
        if not ok:
            raise exceptions.validation_failed(url)
