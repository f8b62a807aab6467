"""The per-process objects: settings, token provider and Graph client (one ``requests.Session``), built on
first use and shared by every invocation; plus host.json's maxDequeueCount and the membership outcome hooks.

A failed build is not remembered, so an operator's fix (or the identity platform coming back) takes effect
on the next invocation. Tests set the environment from the simulator, then call :func:`reset`.
"""

from __future__ import annotations

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
from .logging_setup import log_event
from .settings import Settings

HOST_JSON = Path(__file__).resolve().parent.parent / "host.json"
DEFAULT_MAX_DEQUEUE_COUNT = 5  # the host's default (azure-docs functions-bindings-storage-queue, host.json)
HTTP_BUDGET_SECONDS = 40.0  # the whole invitation flow; Logic Apps gives up at 120 s and retries 429/5xx itself
QUEUE_BUDGET_SECONDS = 30.0  # one membership attempt; the queue's redeliveries do the long waiting

OutcomeHook = Callable[[Any], None]


@dataclass
class Timing:
    """How the app waits. Tests may make waits move the simulator's clock instead of the real one (and the soak
    shortens the Graph client's read timeout, so a late answer costs it one real second instead of twenty)."""

    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    graph_read_timeout: float = READ_TIMEOUT


_lock = threading.Lock()
_settings: Settings | None = None
_graph: GraphClient | None = None
_max_dequeue_count: int | None = None
_timing = Timing()
_environ: Mapping[str, str] = os.environ
_outcome_hooks: list[OutcomeHook] = []


def settings() -> Settings:
    """The validated settings; raises SettingsError (naming each bad setting) until they are fixed."""
    global _settings
    with _lock:
        if _settings is None:
            _settings = Settings.from_env(_environ)
        return _settings


def graph() -> GraphClient:
    """The process's Graph client; its token provider is created here (MSAL fetches the OpenID configuration)."""
    global _graph
    current = settings()
    with _lock:
        if _graph is None:
            tokens = build_token_provider(current)
            _graph = GraphClient(current.graph_endpoint, tokens, sleep=_timing.sleep, clock=_timing.clock,
                                 read_timeout=_timing.graph_read_timeout)
            log_event("runtime.ready", credentialMode=current.credential_mode.value,
                      graphEndpoint=current.graph_endpoint, authorityHost=current.authority_host)
        return _graph


def max_dequeue_count() -> int:
    """host.json's extensions.queues.maxDequeueCount, read once: the delivery after which the host gives up."""
    global _max_dequeue_count
    with _lock:
        if _max_dequeue_count is None:
            _max_dequeue_count = read_max_dequeue_count(HOST_JSON)
        return _max_dequeue_count


def read_max_dequeue_count(path: Path) -> int:
    try:
        host = json.loads(path.read_text(encoding="utf-8"))
        return int(host["extensions"]["queues"]["maxDequeueCount"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_MAX_DEQUEUE_COUNT


def timing() -> Timing:
    return _timing


def reset(environ: Mapping[str, str] | None = None, timing: Timing | None = None) -> None:
    """Forget every per-process object (tests): the next invocation rebuilds them from ``environ``."""
    global _settings, _graph, _max_dequeue_count, _timing, _environ
    with _lock:
        if _graph is not None:
            _graph.close()
        _settings = _graph = _max_dequeue_count = None
        _environ = os.environ if environ is None else environ
        _timing = timing or Timing()


# ---- membership outcome hooks (e.g. the SharePoint worker marks a list item done) -------------------------
def add_outcome_hook(hook: OutcomeHook) -> None:
    """Call ``hook(outcome)`` with each final membership outcome (added, already a member, or poisoned)."""
    with _lock:
        if hook not in _outcome_hooks:  # registering twice (a re-imported function_app) must not record twice
            _outcome_hooks.append(hook)


def remove_outcome_hook(hook: OutcomeHook) -> None:
    with _lock:
        if hook in _outcome_hooks:
            _outcome_hooks.remove(hook)


def outcome_hooks() -> list[OutcomeHook]:
    with _lock:
        return list(_outcome_hooks)
