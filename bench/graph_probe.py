"""Watch the Graph client's HTTP traffic from outside the product: the adapter of its ``requests.Session`` is wrapped
(in the bench only) to record each request's method, URL, the user id of a membership add, the answer's status (or
the exception) and the time spent waiting for it, so a benchmark can subtract Graph's time from a handler's.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import requests


@dataclass
class Exchange:
    method: str
    url: str
    body: Any
    status: int | None  # None: no answer (timeout, dropped connection)
    started: float
    seconds: float
    request_id: str | None = None  # the client-request-id header: which app request sent it

    @property
    def invitation_for(self) -> str | None:
        """The address of POST /invitations (case-folded)."""
        if self.method != "POST" or not self.url.split("?")[0].endswith("/invitations"):
            return None
        address = (self.body or {}).get("invitedUserEmailAddress") if isinstance(self.body, dict) else None
        return address.casefold() if isinstance(address, str) else None

    @property
    def member_add(self) -> tuple[str, str] | None:
        """(groupId, userId) when this was POST /groups/{id}/members/$ref."""
        if self.method != "POST" or not self.url.split("?")[0].endswith("/members/$ref"):
            return None
        group_id = self.url.split("/groups/")[1].split("/")[0].lower()
        reference = (self.body or {}).get("@odata.id", "") if isinstance(self.body, dict) else ""
        return group_id, reference.rsplit("/", 1)[-1].lower()


class GraphProbe:
    """Records every exchange that goes through ``session`` from now on."""

    def __init__(self, session: requests.Session) -> None:
        self.exchanges: list[Exchange] = []
        self._adapter = session.get_adapter("https://")
        self._send = self._adapter.send
        self._adapter.send = self._recording_send  # instance attribute: only this session's adapter

    def detach(self) -> None:
        self._adapter.send = self._send

    def waiting_seconds(self) -> float:
        return sum(exchange.seconds for exchange in self.exchanges)

    def _recording_send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        started = time.perf_counter()
        status = None
        try:
            response = self._send(request, **kwargs)
            if not kwargs.get("stream"):
                _ = response.content  # the body is part of the wait (Session.send would read it right after)
            status = response.status_code
            return response
        finally:
            seconds = time.perf_counter() - started
            self.exchanges.append(Exchange(request.method or "", request.url or "", _json(request.body), status,
                                           started, seconds, request.headers.get("client-request-id")))


def _json(body: Any) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (TypeError, ValueError):
        return None
