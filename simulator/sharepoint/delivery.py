"""Delivering list webhook notifications by real HTTP POST, as SharePoint does (sp-dev-docs
overview-sharepoint-webhooks.md): no item data, several notifications batched under one ``value`` array, any
answer outside 200-299 (or none within the timeout) retried 5 minutes later, 5 times, then dropped.

The 5-minute wait is multiplied by ``retry_scale`` so tests cover the schedule in milliseconds; ``batch_window``
is how long changes are gathered before a POST. Every attempt is recorded in ``deliveries`` for tests.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests

from .subscriptions import render_datetime

if TYPE_CHECKING:
    from .models import SharePointBackend, SpList

RETRY_INTERVAL = 300.0  # seconds: "attempted again 5 minutes later"
RETRIES = 5  # "SharePoint retries up to 5 times"


@dataclass
class Attempt:
    status: int | None  # None: no answer (timeout, refused connection)
    error: str | None = None


@dataclass
class Delivery:
    url: str
    body: dict[str, Any]
    attempts: list[Attempt] = field(default_factory=list)
    state: str = "pending"  # pending | delivered | dropped

    @property
    def subscription_ids(self) -> list[str]:
        return [entry["subscriptionId"] for entry in self.body["value"]]


class Notifier:
    """One background thread sends due batches; each POST runs on its own short-lived thread, so a slow
    receiver does not hold back the others."""

    def __init__(self, backend: SharePointBackend) -> None:
        self.backend = backend
        self.batch_window = 0.05  # real seconds
        self.retry_scale = 1.0  # multiplies RETRY_INTERVAL; tests use e.g. 0.0001
        self.retries = RETRIES
        self.timeout = 5.0  # the receiver must answer within 5 s (cloud-facts)
        self.paused = False  # True: changes are recorded but nothing is sent until resume()
        self.deliveries: list[Delivery] = []
        self._gathering: dict[str, dict[str, dict[str, Any]]] = {}  # url -> subscription id -> entry
        self._due: list[tuple[float, int, str, Delivery | None]] = []  # (when, seq, url, retry delivery)
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    # ---- what the backend calls ----------------------------------------------------------------------------
    def changed(self, sp_list: SpList) -> None:
        """Items of a list changed: each live subscription of it gets a notification in the next batch."""
        subscriptions = self.backend.subscriptions.of_list(sp_list.id)
        if not subscriptions:
            return
        tenant_id = self.backend.sim.tenant_id
        with self._cond:
            for subscription in subscriptions:
                batch = self._gathering.get(subscription.notification_url)
                if batch is None:
                    batch = self._gathering[subscription.notification_url] = {}
                    heapq.heappush(self._due, (time.monotonic() + self.batch_window, next(self._seq),
                                               subscription.notification_url, None))
                batch[subscription.id] = {
                    "subscriptionId": subscription.id, "clientState": subscription.client_state,
                    "expirationDateTime": render_datetime(subscription.expiration, fraction=True),
                    "resource": sp_list.id, "tenantId": tenant_id, "siteUrl": sp_list.site.path,
                    "webId": sp_list.site.web_id,
                }
            self._ensure_thread()
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self.paused = False
            self._cond.notify_all()

    def wait_for(self, count: int, state: str | None = None, timeout: float = 20.0) -> list[Delivery]:
        """Block until at least ``count`` deliveries are settled (or in ``state``); returns them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                settled = [d for d in self.deliveries if (d.state == state if state else d.state != "pending")]
                if len(settled) >= count or time.monotonic() >= deadline:
                    return list(self.deliveries)
                self._cond.wait(min(0.05, max(0.0, deadline - time.monotonic())))

    def wait_idle(self, timeout: float = 20.0) -> bool:
        """Block until nothing is gathered, due or in flight (retries scheduled far ahead count as due)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._idle() and time.monotonic() < deadline:
                self._cond.wait(0.05)
            return self._idle()

    def idle(self) -> bool:
        with self._cond:
            return self._idle()

    def _idle(self) -> bool:
        """Nothing gathered, nothing due, nothing in flight."""
        return not self._gathering and not self._due and all(d.state != "pending" for d in self.deliveries)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread:
            self._thread.join(timeout=5)

    # ---- the sending loop ----------------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None and not self._stopped:
            self._thread = threading.Thread(target=self._run, name="sim-sharepoint-notifier", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (self.paused or not self._due or self._due[0][0] > time.monotonic()):
                    wait = self._due[0][0] - time.monotonic() if self._due and not self.paused else 0.5
                    self._cond.wait(max(0.001, min(wait, 0.5)))
                if self._stopped:
                    return
                _, _, url, delivery = heapq.heappop(self._due)
                if delivery is None:
                    delivery = Delivery(url, {"value": list(self._gathering.pop(url, {}).values())})
                    self.deliveries.append(delivery)
            threading.Thread(target=self._send, args=(delivery,), name="sim-sharepoint-post", daemon=True).start()

    def _send(self, delivery: Delivery) -> None:
        try:
            answer = requests.post(delivery.url, json=delivery.body, timeout=self.timeout,
                                   headers={"User-Agent": "Microsoft-SharePoint/16.0"})
            attempt = Attempt(answer.status_code)
        except requests.RequestException as caught:
            attempt = Attempt(None, type(caught).__name__)
        with self._cond:
            delivery.attempts.append(attempt)
            if attempt.status is not None and 200 <= attempt.status <= 299:
                delivery.state = "delivered"
            elif len(delivery.attempts) > self.retries:
                delivery.state = "dropped"
            else:
                when = time.monotonic() + RETRY_INTERVAL * self.retry_scale
                heapq.heappush(self._due, (when, next(self._seq), delivery.url, delivery))
            self._cond.notify_all()
