"""The application context: everything the app builds once per process (settings, token provider and Graph client,
storage clients, SharePoint tokens and site ids, the health report cache, host.json's maxDequeueCount, timing) and
the membership outcome hooks. Each door takes :func:`current` once per invocation and passes it on.

A failed build is not remembered, so an operator's fix (or the identity platform coming back) takes effect on the
next invocation. Tests point the process at the simulator with :func:`reset`: one call forgets every cache.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .credentials import build_token_provider
from .graph import READ_TIMEOUT, GraphClient
from .lag import FirstDelay, table_delay
from .logging_setup import log_event
from .settings import Settings

HOST_JSON = Path(__file__).resolve().parent.parent / "host.json"
DEFAULT_MAX_DEQUEUE_COUNT = 5  # the host's default (azure-docs functions-bindings-storage-queue, host.json)
HTTP_BUDGET_SECONDS = 40.0  # the whole invitation flow; Logic Apps gives up at 120 s and retries 429/5xx itself
QUEUE_BUDGET_SECONDS = 30.0  # one membership attempt; the queue's redeliveries do the long waiting

OutcomeHook = Callable[[Any], None]


def _same(seconds: float) -> float:
    return seconds


@dataclass
class Timing:
    """How the app waits. Tests may make waits move the simulator's clock instead of the real one (and the soak
    shortens the Graph client's read timeout, so a late answer costs it one real second instead of twenty)."""

    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    graph_read_timeout: float = READ_TIMEOUT
    wall: Callable[[], float] = time.time  # seconds since the epoch: access periods end on this clock
    # The visibility timeout a delayed re-enqueue sends for the delay it wants (shared.membership). A harness with
    # simulated waits moves the simulator's clock by the delay and sends 0, as ``sleep`` does for in-call waits.
    queue_delay: Callable[[float], float] = _same

    def utcnow(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.wall(), dt.UTC)


class AppContext:
    """One process's objects, each built on first use."""

    def __init__(self, environ: Mapping[str, str] | None = None, timing: Timing | None = None,
                 outcome_hooks: list[OutcomeHook] | None = None) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.timing = timing or Timing()
        self.lock = threading.RLock()
        self._settings: Settings | None = None
        self._graph: GraphClient | None = None
        self._max_dequeue_count: int | None = None
        self._hooks: list[OutcomeHook] = list(outcome_hooks or [])
        # Per-process caches of the features, kept here so that one reset forgets them all.
        self.storage_clients: dict[Any, Any] = {}
        self.sharepoint_tokens: dict[str, Any] = {}
        self.site_ids: dict[str, str] = {}
        self.health_report: tuple[float, Any] | None = None
        # A new guest's first membership delay, learned, and shared with the app's other processes through the
        # status table (shared.lag: read on the first new guest's message, not here: cold start).
        self.first_delay = FirstDelay(shared=lambda: table_delay(self), clock=self.timing.clock)
        self.status_link_key: bytes | None = None  # the key that signs status links (shared.status_links)

    def settings(self) -> Settings:
        """The validated settings; raises SettingsError (naming each bad setting) until they are fixed."""
        with self.lock:
            if self._settings is None:
                self._settings = Settings.from_env(self.environ)
            return self._settings

    def graph(self) -> GraphClient:
        """The process's Graph client; its token provider is created here (MSAL fetches the OpenID configuration)."""
        current = self.settings()
        with self.lock:
            if self._graph is None:
                tokens = build_token_provider(current)
                self._graph = GraphClient(current.graph_endpoint, tokens, sleep=self.timing.sleep,
                                          clock=self.timing.clock, read_timeout=self.timing.graph_read_timeout)
                log_event("runtime.ready", credentialMode=current.credential_mode.value,
                          graphEndpoint=current.graph_endpoint, authorityHost=current.authority_host)
            return self._graph

    def claims(self) -> Any:
        """The claim store of ``inviteclaims`` (shared.claims.ClaimStore), or None when no storage is configured
        (only the command line runs so); SettingsError when the storage setting is malformed."""
        from .claims import claim_store

        return claim_store(self)

    def utcnow(self) -> dt.datetime:
        """Now, on the context's wall clock (tests move it with the simulator's)."""
        return self.timing.utcnow()

    def max_dequeue_count(self) -> int:
        """host.json's extensions.queues.maxDequeueCount, read once: the delivery after which the host gives up."""
        with self.lock:
            if self._max_dequeue_count is None:
                self._max_dequeue_count = read_max_dequeue_count(HOST_JSON)
            return self._max_dequeue_count

    # ---- membership outcome hooks (e.g. the SharePoint feature marks a list item done) -------------------------
    def add_outcome_hook(self, hook: OutcomeHook) -> None:
        """Call ``hook(outcome)`` with each final membership outcome (added, already a member, or poisoned)."""
        with self.lock:
            if hook not in self._hooks:  # registering twice (a re-imported function_app) must not record twice
                self._hooks.append(hook)

    def remove_outcome_hook(self, hook: OutcomeHook) -> None:
        with self.lock:
            if hook in self._hooks:
                self._hooks.remove(hook)

    def outcome_hooks(self) -> list[OutcomeHook]:
        with self.lock:
            return list(self._hooks)

    def close(self) -> None:
        with self.lock:
            if self._graph is not None:
                self._graph.close()


def read_max_dequeue_count(path: Path) -> int:
    try:
        host = json.loads(path.read_text(encoding="utf-8"))
        return int(host["extensions"]["queues"]["maxDequeueCount"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_MAX_DEQUEUE_COUNT


_current = AppContext()
_current_lock = threading.Lock()


def current() -> AppContext:
    """The process's context (what function_app.py's triggers and the CLI use)."""
    return _current


def reset(environ: Mapping[str, str] | None = None, timing: Timing | None = None) -> AppContext:
    """Forget every per-process object and cache: the next invocation rebuilds them from ``environ``. The outcome
    hooks are wiring (registered once by function_app.py), so they carry over."""
    global _current
    with _current_lock:
        previous = _current
        _current = AppContext(environ, timing, previous.outcome_hooks())
    previous.close()
    return _current
