"""Thin aliases of :mod:`shared.app_context` for the test harnesses written against the old module globals;
new code takes ``app_context.current()`` once and passes it. To be removed once the harnesses use the context."""

from __future__ import annotations

from collections.abc import Mapping

from .app_context import (
    DEFAULT_MAX_DEQUEUE_COUNT,
    HOST_JSON,
    HTTP_BUDGET_SECONDS,
    QUEUE_BUDGET_SECONDS,
    OutcomeHook,
    Timing,
    current,
    read_max_dequeue_count,
)
from .app_context import reset as _reset
from .graph import GraphClient
from .settings import Settings

__all__ = ["DEFAULT_MAX_DEQUEUE_COUNT", "HOST_JSON", "HTTP_BUDGET_SECONDS", "QUEUE_BUDGET_SECONDS", "Timing",
           "add_outcome_hook", "graph", "max_dequeue_count", "outcome_hooks", "read_max_dequeue_count",
           "remove_outcome_hook", "reset", "settings", "timing"]


def settings() -> Settings:
    return current().settings()


def graph() -> GraphClient:
    return current().graph()


def max_dequeue_count() -> int:
    return current().max_dequeue_count()


def timing() -> Timing:
    return current().timing


def reset(environ: Mapping[str, str] | None = None, timing: Timing | None = None) -> None:
    _reset(environ, timing)


def add_outcome_hook(hook: OutcomeHook) -> None:
    current().add_outcome_hook(hook)


def remove_outcome_hook(hook: OutcomeHook) -> None:
    current().remove_outcome_hook(hook)


def outcome_hooks() -> list[OutcomeHook]:
    return current().outcome_hooks()
