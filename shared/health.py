"""``GET /api/health``: the doctor's report as JSON, 200 when everything needed is in place, else 503 with the same
report. The azure.functions adapter for it is :func:`health_http` (kept here, beside its cache, so the core's
bindings module stays untouched).

The result is cached for :data:`CACHE_SECONDS` per process, so frequent pings (an availability test, several
instances, a load balancer) cost Graph and storage one round of checks per 30 s, not one per ping; concurrent
calls wait for the one round in progress. The checks use the app's own Graph client and token cache (runtime), so
the report shows exactly the roles the running app has.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import azure.functions as func

from . import app_context
from .diagnostics import Check, Report, Status, diagnose
from .logging_setup import log_event

CACHE_SECONDS = 30.0
HEADERS = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"}

_lock = threading.Lock()  # one round of checks at a time: concurrent calls wait for it


def current_report(clock: Callable[[], float] = time.monotonic) -> Report:
    """The cached report while it is younger than CACHE_SECONDS, else a new round of checks."""
    ctx = app_context.current()
    with _lock:
        cached = ctx.health_report
        if cached is not None and clock() - cached[0] < CACHE_SECONDS:
            return cached[1]
        report = _run_checks(ctx)
        ctx.health_report = (clock(), report)
        return report


def reset_cache() -> None:
    """Kept for the test harnesses: app_context.reset() forgets the report with everything else."""
    app_context.current().health_report = None


def _run_checks(ctx: app_context.AppContext) -> Report:
    try:
        report = diagnose(os.environ, graph_source=lambda _settings: ctx.graph())
    except Exception as error:  # a bug in a check must still answer with a report, never a bare 500
        log_event("health.failed", level=logging.ERROR, error=type(error).__name__)
        return Report.create([Check("doctor", Status.ERROR, f"a check failed unexpectedly: {type(error).__name__}",
                                    "See the function's logs (health.failed).")])
    log_event("health.checked", level=logging.INFO if report.ok else logging.WARNING, ok=report.ok,
              status=report.status, failing=[check.name for check in report.failing()])
    return report


def health_http(req: func.HttpRequest) -> func.HttpResponse:
    """The adapter: the report as JSON, 200 if ready else 503; never cached by a proxy."""
    report = current_report()
    return func.HttpResponse(report.to_json(), status_code=200 if report.ok else 503, headers=dict(HEADERS))
