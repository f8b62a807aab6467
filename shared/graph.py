"""Microsoft Graph over one keep-alive ``requests.Session``: timeouts, retries within a time budget, typed errors.

Retry rules and where they live:
- connection failures before the request was sent: urllib3 ``Retry(connect=…)`` on the adapter (always safe), then
  our loop (:func:`never_sent`: not ambiguous, so even an invitation POST is tried again);
- 429/503/504 with ``Retry-After``: wait that long (MGDC concepts/throttling.md, concepts/errors.md); other
  transient answers (408, 429/5xx without the header, no answer at all): exponential backoff with jitter;
- 401: drop the cached token once and try again;
- all of it within a :class:`CallBudget` per logical call, so an HTTP invocation answers well within Logic Apps'
  120 s. Our own loop does the status-level retries because urllib3 cannot express the budget, the 401 rule,
  or "an invitation POST that lost its answer must not be replayed blindly" (``idempotent=False``).
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from urllib3.exceptions import InvalidHeader, NewConnectionError
from urllib3.util.retry import Retry

from . import telemetry
from .credentials import TokenProvider
from .failures import TRANSIENT_STATUSES
from .settings import SettingsError

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
MAX_ATTEMPTS = 6
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
NOT_APPLIED_STATUSES = frozenset({429, 503})
_GUID = re.compile(r"[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}")
HOST_JSON = Path(__file__).resolve().parent.parent / "host.json"
POOL_SIZE_SETTING = "GRAPH_CONNECTION_POOL_SIZE"
# The queue extension's defaults when host.json leaves them out (azure-docs functions-bindings-storage-queue,
# host.json: batchSize 16; newBatchThreshold batchSize / 2 per core, taken here for one core).
DEFAULT_BATCH_SIZE = 16
USER_FIELDS = ("id", "displayName", "mail", "userPrincipalName", "userType", "externalUserState", "otherMails",
               "createdDateTime")
# What the membership worker reads before a write: who the user is (guest or member) and their addresses (policy).
MEMBERSHIP_USER_FIELDS = ("id", "userType", "mail", "otherMails", "userPrincipalName")


class GraphError(Exception):
    """Graph's answer to a failed call (status, code, message, request-id), or no answer (``status`` None)."""

    def __init__(self, status: int | None, code: str, message: str, request_id: str | None = None,
                 retry_after: float | None = None, *, ambiguous: bool = False) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after
        self.ambiguous = ambiguous  # the request may have been applied although no answer came back
        # After an ambiguous invitation: how long the address's claim stays held (shared.claims), so the failure
        # policy can tell the caller to come back when a retry can decide (None: no claim held).
        self.claim_seconds_left: float | None = None
        self.location: str | None = None  # e.g. delta's 410 Gone: where to resync (MGDC api/listitem-delta.md)
        # The token came from a managed identity, whose platform may serve it cached for hours after a role grant.
        self.platform_token_cache = False

    @property
    def transient(self) -> bool:
        return self.status is None or self.status in TRANSIENT_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "code": self.code, "message": self.message, "graphRequestId": self.request_id}

    @classmethod
    def from_response(cls, response: requests.Response) -> GraphError:
        try:
            error = response.json().get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        inner = error.get("innerError") or {}
        result = cls(response.status_code, str(error.get("code") or f"HTTP{response.status_code}"),
                     str(error.get("message") or response.reason or ""),
                     response.headers.get("request-id") or inner.get("request-id"),
                     _retry_after(response.headers.get("Retry-After")))
        result.location = response.headers.get("Location")
        return result

    @classmethod
    def unreadable(cls, response: requests.Response, *, ambiguous: bool) -> GraphError:
        """A 2xx whose body is not JSON: the call may have been applied, but its answer is lost."""
        return cls(None, "unreadableAnswer", f"Graph answered {response.status_code} with a body that is not JSON",
                   response.headers.get("request-id"), ambiguous=ambiguous)

    @classmethod
    def no_answer(cls, error: requests.RequestException, *, ambiguous: bool) -> GraphError:
        code = "timeout" if isinstance(error, requests.Timeout) else "connectionFailed"
        return cls(None, code, f"no answer from Graph ({type(error).__name__})", ambiguous=ambiguous)


def never_sent(failure: requests.RequestException) -> bool:
    """Whether the request failed before a byte of it was sent: no connection could be made (refused, unreachable,
    name not resolved, connect timeout), after urllib3's own connect retries. Anything later (a reset, a read
    timeout, a dropped connection) may come after Graph received and applied it."""
    if isinstance(failure, requests.ConnectTimeout):
        return True
    reason = getattr(failure.args[0], "reason", None) if failure.args else None  # urllib3's MaxRetryError
    return isinstance(reason, NewConnectionError)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return Retry(retry_after_max=3600).parse_retry_after(value)  # seconds or an HTTP date (RFC 9110)
    except InvalidHeader:
        return None


class CallBudget:
    """How long one logical call (all its requests, waits and retries) may take."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.deadline = clock() + seconds

    def remaining(self) -> float:
        return self.deadline - self._clock()


def host_concurrency(host_json: Path = HOST_JSON) -> int:
    """How many queue messages one instance runs at once for one queue trigger: host.json's ``batchSize +
    newBatchThreshold`` (azure-docs functions-bindings-storage-queue, "Concurrency")."""
    try:
        queues = json.loads(host_json.read_text(encoding="utf-8"))["extensions"]["queues"]
        batch_size = int(queues.get("batchSize", DEFAULT_BATCH_SIZE))
        return batch_size + int(queues.get("newBatchThreshold", batch_size // 2))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # the host then runs on its defaults too
        return DEFAULT_BATCH_SIZE + DEFAULT_BATCH_SIZE // 2


def connection_pool_size(environ: Mapping[str, str] | None = None, host_json: Path = HOST_JSON) -> int:
    """Connections the Graph session keeps: GRAPH_CONNECTION_POOL_SIZE if set, else twice the host's queue
    concurrency (one trigger's messages, and as many again for the other triggers and HTTP invocations running
    beside them). urllib3 opens a connection per concurrent request and closes any it cannot put back in a full
    pool, so a pool smaller than the concurrency churns TLS handshakes; a larger one holds only what was opened."""
    value = (os.environ if environ is None else environ).get(POOL_SIZE_SETTING, "").strip()
    if not value:
        return 2 * host_concurrency(host_json)
    if not value.isdecimal() or not 1 <= int(value) <= 1000:
        raise SettingsError({POOL_SIZE_SETTING: "must be a whole number from 1 to 1000"})
    return int(value)


def new_session(pool_size: int | None = None) -> requests.Session:
    """A keep-alive session that reads the environment once, here, instead of on every request: with
    ``trust_env`` requests looks up proxies (twice) and ~/.netrc per call. The CA bundle is taken as requests would
    (REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE); proxies are set per endpoint by :func:`use_environment_proxies`."""
    session = requests.Session()
    session.trust_env = False
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    # Connect errors happen before anything is sent, so retrying them is safe for every method.
    retry = Retry(total=2, connect=2, read=0, redirect=0, status=0, other=0, backoff_factor=0.2,
                  raise_on_status=False)
    size = connection_pool_size() if pool_size is None else pool_size
    session.mount("https://", HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=size))
    session.headers.update({"Accept": "application/json"})
    return session


def use_environment_proxies(session: requests.Session, url: str) -> None:
    """Route ``url``'s host as the environment says, decided once: HTTPS_PROXY (or ALL_PROXY) unless NO_PROXY
    names the host, with requests' own rules (``get_environ_proxies``). ``None`` pins a direct connection."""
    if session.trust_env:
        return  # a session that reads the environment per request needs nothing pinned
    parts = urlsplit(url)
    found = get_environ_proxies(url)
    session.proxies[f"{parts.scheme}://{parts.hostname}"] = found.get(parts.scheme) or found.get("all")


class GraphClient:
    def __init__(self, graph_endpoint: str, tokens: TokenProvider, *, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT) -> None:
        self.graph_endpoint = graph_endpoint.rstrip("/")
        self.base_url = f"{self.graph_endpoint}/v1.0"
        self.tokens = tokens
        self.session = session or new_session()
        use_environment_proxies(self.session, self.graph_endpoint)
        self.sleep = sleep
        self.clock = clock
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout  # per request, and never past the call's budget (at least 1 s)
        self.random = random.Random()

    def budget(self, seconds: float) -> CallBudget:
        return CallBudget(seconds, self.clock)

    def close(self) -> None:
        self.session.close()

    # ---- the calls the app makes -------------------------------------------------------------------------
    def find_users_by_email(self, email: str, budget: CallBudget, request_id: str | None = None) -> list[dict]:
        """Users whose mail, userPrincipalName, otherMails or proxyAddresses is ``email`` (MGDC api/user-list.md;
        the filter is the one entra-docs customize-invitation-api.md suggests). The OData literal doubles quotes."""
        literal = email.replace("'", "''")
        odata_filter = (f"mail eq '{literal}' or userPrincipalName eq '{literal}' or "
                        f"otherMails/any(x:x eq '{literal}') or proxyAddresses/any(x:x eq 'SMTP:{literal}')")
        query = {"$filter": odata_filter, "$select": ",".join(USER_FIELDS), "$top": "5"}
        answer = self.request("GET", "/users", query=query, budget=budget, request_id=request_id)
        return list((answer or {}).get("value") or [])

    def invite(self, invitation: dict, budget: CallBudget, request_id: str | None = None) -> dict:
        """POST /invitations (MGDC api/invitation-post.md). Not replayed after a lost answer: see onboarding."""
        return self.request("POST", "/invitations", body=invitation, budget=budget, idempotent=False,
                            request_id=request_id) or {}

    def add_member(self, group_id: str, user_id: str, budget: CallBudget, request_id: str | None = None) -> None:
        """POST /groups/{id}/members/$ref (MGDC api/group-post-members.md). Replaying it is safe: a second add
        answers "already exist", which the caller treats as done."""
        reference = {"@odata.id": f"{self.base_url}/directoryObjects/{user_id}"}
        self.request("POST", f"/groups/{quote(group_id, safe='')}/members/$ref", body=reference, budget=budget,
                     request_id=request_id)

    def remove_member(self, group_id: str, user_id: str, budget: CallBudget, request_id: str | None = None) -> None:
        """DELETE /groups/{id}/members/{id}/$ref (MGDC api/group-delete-members.md). Replaying it is safe: a second
        removal answers "not a member", which failures.judge_removal counts as done."""
        self.request("DELETE", f"/groups/{quote(group_id, safe='')}/members/{quote(user_id, safe='')}/$ref",
                     budget=budget, request_id=request_id)

    def get_user(self, key: str, fields: tuple[str, ...], budget: CallBudget) -> dict:
        """GET /users/{id or UPN}?$select=… (MGDC api/user-get.md; User.Read.All)."""
        return self.request("GET", f"/users/{quote(key, safe='@')}", query={"$select": ",".join(fields)},
                            budget=budget) or {}

    def add_sponsor(self, user_id: str, sponsor_id: str, budget: CallBudget, request_id: str | None = None) -> None:
        """POST /users/{id}/sponsors/$ref (MGDC api/user-post-sponsors.md; User.ReadWrite.All). A replay answers
        "already exist", which the caller counts as done."""
        reference = {"@odata.id": f"{self.base_url}/users/{sponsor_id}"}
        self.request("POST", f"/users/{quote(user_id, safe='')}/sponsors/$ref", body=reference, budget=budget,
                     request_id=request_id)

    def disable_user(self, user_id: str, budget: CallBudget) -> None:
        """PATCH /users/{id} accountEnabled false: block sign-in (MGDC api/user-update.md;
        User.EnableDisableAccount.All with User.Read.All)."""
        self.request("PATCH", f"/users/{quote(user_id, safe='')}", body={"accountEnabled": False}, budget=budget)

    def delete_user(self, user_id: str, budget: CallBudget) -> None:
        """DELETE /users/{id} (MGDC api/user-delete.md; User.DeleteRestore.All). A replay answers 404: done."""
        self.request("DELETE", f"/users/{quote(user_id, safe='')}", budget=budget)

    # ---- the retry loop -------------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, budget: CallBudget, query: dict[str, str] | None = None,
                body: Any = None, idempotent: bool = True, request_id: str | None = None,
                headers: dict[str, str] | None = None) -> Any:
        """One logical call: the parsed JSON answer (None when empty), or GraphError once retries are spent."""
        url = self.base_url + path
        if query:
            url += "?" + "&".join(f"{key}={quote(value, safe=',')}" for key, value in query.items())
        token_refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._send(method, url, body, budget, request_id, headers)
            except requests.RequestException as failure:
                error = GraphError.no_answer(failure, ambiguous=not idempotent and not never_sent(failure))
            else:
                if response.status_code < 400:
                    try:
                        return response.json() if response.content else None
                    except ValueError:  # a success we cannot read (a proxy's page): as if no answer came
                        error = GraphError.unreadable(response, ambiguous=not idempotent)
                else:
                    error = GraphError.from_response(response)
                    error.platform_token_cache = getattr(self.tokens, "platform_token_cache", False)
                    if response.status_code == 401 and not token_refreshed:
                        token_refreshed = True  # expired or revoked token: fetch a new one, once
                        self.tokens.invalidate()
                        continue
                    if not error.transient:
                        raise error
                    # 429 and 503 refuse before doing anything; a 500/502/504 may come after the work was done.
                    error.ambiguous = not idempotent and error.status not in NOT_APPLIED_STATUSES
            if error.ambiguous:
                raise error  # not replayed blindly: the caller must first find out whether it was applied
            delay = error.retry_after if error.retry_after is not None else self.backoff(attempt)
            if attempt >= MAX_ATTEMPTS or delay > budget.remaining():
                raise error
            self.sleep(delay)

    def _send(self, method: str, url: str, body: Any, budget: CallBudget, request_id: str | None,
              extra_headers: dict[str, str] | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.tokens.token()}", **(extra_headers or {})}
        if request_id and _GUID.fullmatch(request_id):
            headers["client-request-id"] = request_id  # Graph echoes it (a GUID); ties our logs to Graph's
        read_timeout = max(1.0, min(self.read_timeout, budget.remaining()))
        with telemetry.graph_call(method, url) as call:  # one dependency per request, retries included
            response = self.session.request(method, url, json=body, headers=headers,
                                            timeout=(self.connect_timeout, read_timeout))
            call.answered(response.status_code)
        return response

    def backoff(self, attempt: int) -> float:
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        return ceiling / 2 + self.random.uniform(0, ceiling / 2)  # "equal jitter": spread out, never zero
