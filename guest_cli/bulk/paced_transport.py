"""A requests transport adapter that paces every Graph call of a bulk run through the shared
:class:`~guest_cli.bulk.rate_limit.RateLimiter` and turns each 429 into a pause for every worker.

It wraps the adapter the core's session already has (``shared.graph.new_session``), so the core's
``GraphClient`` (its retries, Retry-After and typed errors) is used unchanged: each attempt it makes, first
or retried, goes through here. Transport adapters are requests' documented extension point.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter

from shared.graph import new_session

from .rate_limit import DIRECTORY_WRITES, INVITATIONS, RateLimiter

DEFAULT_RETRY_AFTER = 1.0  # a 429 without Retry-After still pauses everyone briefly (concepts/throttling.md)
_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def budgets_for(method: str, path: str) -> list[str]:
    """The budgets one Graph request (or one $batch step) spends (MGDC concepts/throttling-limits.md)."""
    method = method.upper()
    path = path.split("?", 1)[0].rstrip("/")
    if path.endswith("/invitations"):
        return [INVITATIONS]  # the one documented limit for invitations: 150 per 5 s per tenant
    if method in _WRITES and "/groups/" in path:
        return [DIRECTORY_WRITES]  # identity and access writes: 3,000 per 2 min 30 s per app and tenant
    return []


class PacedAdapter(BaseAdapter):
    def __init__(self, inner: BaseAdapter, limiter: RateLimiter) -> None:
        super().__init__()
        self.inner = inner
        self.limiter = limiter
        self._lock = threading.Lock()
        self.throttled = 0  # 429 answers met (whole requests; a $batch's inner 429s are counted by its caller)

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        for names, cost in _spending(request):
            self.limiter.acquire(*names, cost=cost)
        response = self.inner.send(request, **kwargs)
        if response.status_code == 429:
            with self._lock:
                self.throttled += 1
            self.limiter.pause(retry_after_seconds(response.headers.get("Retry-After")))
        return response

    def close(self) -> None:
        self.inner.close()


def _spending(request: requests.PreparedRequest) -> Iterable[tuple[list[str], int]]:
    path = urlsplit(request.url or "").path
    if not path.endswith("/$batch"):
        names = budgets_for(request.method or "GET", path)
        return [(names, 1)] if names else []
    try:
        steps = json.loads(request.body or b"{}").get("requests") or []
    except (ValueError, AttributeError):
        return []
    totals: dict[tuple[str, ...], int] = {}
    for step in steps:
        names = tuple(budgets_for(str(step.get("method", "GET")), "/" + str(step.get("url", "")).lstrip("/")))
        if names:
            totals[names] = totals.get(names, 0) + 1
    return [(list(names), cost) for names, cost in totals.items()]


def retry_after_seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER


def paced_session(limiter: RateLimiter, pool_size: int) -> tuple[requests.Session, PacedAdapter]:
    """The core's session (keep-alive, connect retries), with its https adapter wrapped by a PacedAdapter."""
    session = new_session(pool_size=pool_size)
    adapter = PacedAdapter(session.get_adapter("https://"), limiter)
    session.mount("https://", adapter)
    return session, adapter
