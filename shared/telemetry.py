"""Telemetry an operator can query: OpenTelemetry to Application Insights, set up on first use.

Why OpenTelemetry: the Python worker's default path forwards only a log record's message, so the fields of
:func:`shared.logging_setup.log_event` never became ``customDimensions`` (cloud-facts.md, Functions). Microsoft's
documented path for Python on Flex Consumption is the Azure Monitor OpenTelemetry distro
(``azure-monitor-opentelemetry``, ``configure_azure_monitor``) with host.json ``"telemetryMode": "OpenTelemetry"``
and ``PYTHON_ENABLE_OPENTELEMETRY=true`` (the worker then propagates the host's trace context to our spans and
tells the host that the worker exports its own logs). The distro's OpenTelemetry logging handler turns each
record's extra attributes into log attributes, which the exporter writes as ``customDimensions``.

What is set up, and why not more:
- our logger (``guest_onboarding``) only: its records are already masked and bounded; the libraries' records
  (msal, azure-core, urllib3) are not ours to vouch for;
- no automatic instrumentation: the ``requests``/``urllib3`` instrumentations would record each Graph URL in full,
  ``$filter`` (an email address) included. Graph calls are recorded by :func:`graph_call` instead, with the
  route template only;
- lazily, on the first record or Graph call of the process: importing the distro costs about half a second,
  which the function app's import must not pay (docs/performance.md, cold start).

Nothing happens without ``APPLICATIONINSIGHTS_CONNECTION_STRING`` (local runs, tests, the CLI), nor when
``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true`` has the worker call ``configure_azure_monitor`` itself
(Microsoft advises against doing both). Entra ID ingestion (``APPLICATIONINSIGHTS_AUTHENTICATION_STRING``) is read
by the exporter itself.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
WORKER_TELEMETRY = "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"
# Every instrumentation the distro bundles, switched off (see the module's docstring).
INSTRUMENTATIONS = ("azure_sdk", "django", "fastapi", "flask", "psycopg2", "requests", "urllib", "urllib3")
TRACER_NAME = "guest_onboarding.graph"
# A path segment kept in a route template: the API version (``v1.0``) or a word of letters (``members``, ``$ref``,
# ``microsoft.graph.delta()``). Anything else (a GUID, a number, a site id with commas, a UPN with '@') is an id
# and becomes ``{id}``.
_LITERAL_SEGMENT = re.compile(r"v\d\.\d|\$?[A-Za-z]{1,40}(\.[A-Za-z]{1,40}){0,4}(\(\))?")

_lock = threading.Lock()
_state = "unset"  # "unset" → "off" | "on"; decided once per process
_tracer: Any = None  # the OpenTelemetry tracer, once telemetry is on


def ensure_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Set telemetry up once per process if the app has a connection string; True when it is on. Cheap after
    the first call (one comparison), so every record and Graph call may ask."""
    if _state != "unset":
        return _state == "on"
    return _configure(os.environ if environ is None else environ)


def _configure(environ: Mapping[str, str]) -> bool:
    global _state, _tracer
    with _lock:
        if _state != "unset":
            return _state == "on"
        _state = "off"  # decided before the distro runs: its own records must not come back here
        connection_string = (environ.get(CONNECTION_STRING) or "").strip()
        if not connection_string:
            return False
        if (environ.get(WORKER_TELEMETRY) or "").strip().lower() != "true":
            from azure.monitor.opentelemetry import configure_azure_monitor

            from .logging_setup import LOGGER_NAME  # here: logging_setup imports this module

            configure_azure_monitor(connection_string=connection_string, logger_name=LOGGER_NAME,
                                    enable_live_metrics=False,
                                    instrumentation_options={name: {"enabled": False} for name in INSTRUMENTATIONS})
        from opentelemetry import trace

        _tracer = trace.get_tracer(TRACER_NAME)
        _state = "on"
        return True


def use(tracer_provider: Any) -> None:
    """Send Graph spans to ``tracer_provider`` from now on (tests: an in-memory exporter; records reach a
    handler the test attaches to the ``guest_onboarding`` logger, as ``configure_azure_monitor`` does)."""
    global _state, _tracer
    with _lock:
        _tracer = tracer_provider.get_tracer(TRACER_NAME)
        _state = "on"


def reset() -> None:
    """Forget the decision (tests): the next record or Graph call decides again."""
    global _state, _tracer
    with _lock:
        _state, _tracer = "unset", None


def route_template(url: str) -> str:
    """``https://graph…/v1.0/groups/<guid>/members/$ref`` → ``/v1.0/groups/{id}/members/$ref``; a query keeps
    its parameter names only (``/v1.0/users?$filter&$select&$top``): ``$filter`` carries an email address."""
    parts = urlsplit(url)
    segments = [segment if _LITERAL_SEGMENT.fullmatch(segment) else "{id}"
                for segment in parts.path.split("/")[1:]]
    template = "/" + "/".join(segments)
    if parts.query:
        names = [pair.partition("=")[0] for pair in parts.query.split("&")]
        template += "?" + "&".join(name if _LITERAL_SEGMENT.fullmatch(name) else "{name}" for name in names)
    return template


class _Call:
    """What :func:`graph_call` lets the caller record: the answer's status."""

    def __init__(self, span: Any) -> None:
        self.span = span

    def answered(self, status: int) -> None:
        if self.span is not None:
            self.span.set_attribute("http.response.status_code", status)
            if status >= 400:
                from opentelemetry.trace import Status, StatusCode

                self.span.set_status(Status(StatusCode.ERROR))
                self.span.set_attribute("error.type", str(status))


@contextmanager
def graph_call(method: str, url: str) -> Iterator[_Call]:
    """One HTTP request to Graph as a dependency span (kind CLIENT: Application Insights' ``dependencies``):
    method, route template, server, status, duration. A request with no answer ends with the exception's type."""
    if not ensure_configured() or _tracer is None:
        yield _Call(None)
        return
    from opentelemetry.trace import SpanKind

    template = route_template(url)
    parts = urlsplit(url)
    attributes = {"http.request.method": method, "url.template": template, "server.address": parts.hostname or "",
                  # The exporter names the dependency from url.full: the template, never the real query.
                  "url.full": f"{parts.scheme}://{parts.netloc}{template}"}
    if parts.port:
        attributes["server.port"] = parts.port
    # Not the library's exception recording: a requests exception's text quotes the URL, $filter included.
    with _tracer.start_as_current_span(f"{method} {template}", kind=SpanKind.CLIENT, attributes=attributes,
                                       record_exception=False, set_status_on_exception=False) as span:
        try:
            yield _Call(span)
        except BaseException as failure:
            from opentelemetry.trace import Status, StatusCode

            span.set_attribute("error.type", type(failure).__name__)
            span.set_status(Status(StatusCode.ERROR))
            raise
