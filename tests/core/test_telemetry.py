"""Telemetry an operator can query (shared/telemetry.py): each record's fields as log attributes (Application
Insights' customDimensions), Graph calls as dependency spans with route templates, through in-memory exporters and
the Azure Monitor exporter's own conversion; the distro set up on first use, without auto-instrumentation."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from azure.monitor.opentelemetry.exporter.export.logs._exporter import _convert_log_to_envelope
from azure.monitor.opentelemetry.exporter.export.trace._exporter import _convert_span_to_envelope
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared import telemetry
from shared.graph import GraphClient, GraphError
from shared.logging_setup import LOGGER_NAME, log_event
from simulator.graph.models import PARTNERS_GROUP_ID

ROOT = Path(__file__).resolve().parents[2]


class Exporters:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.logs = InMemoryLogRecordExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        # What configure_azure_monitor(logger_name="guest_onboarding") attaches: the SDK's logging handler.
        self.handler = LoggingHandler(level=logging.INFO, logger_provider=self.logger_provider)

    def records(self, event: str) -> list:
        return [item.log_record for item in self.logs.get_finished_logs()
                if (item.log_record.attributes or {}).get("event") == event]


@pytest.fixture
def otel() -> Iterator[Exporters]:
    exporters = Exporters()
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(exporters.handler)
    telemetry.use(exporters.tracer_provider)
    try:
        yield exporters
    finally:
        logger.removeHandler(exporters.handler)
        telemetry.reset()


def test_one_invitation_leaves_queryable_records_and_one_dependency_per_graph_call(app, otel, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    answer = app.invite({"email": "alice@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    assert answer.status == 201
    app.deliver_until_settled(answer.messages[0])  # a new guest's first message waits the learned delay

    (done,) = otel.records("invite.done")
    fields = dict(done.attributes)
    assert fields["requestId"] == answer.body["requestId"] and fields["userId"] == answer.body["userId"]
    assert fields["outcome"] == "invited" and isinstance(fields["durationMs"], int)
    assert fields["email"] == "a***@fabrikam.com"  # masked as in the message
    (member,) = otel.records("membership.done")
    assert member.attributes["outcome"] == "added" and member.attributes["groupId"] == PARTNERS_GROUP_ID
    assert member.attributes["requestId"] == answer.body["requestId"]
    everything = repr([(item.log_record.body, dict(item.log_record.attributes or {}))
                       for item in otel.logs.get_finished_logs()])
    assert "alice@" not in everything

    spans = otel.spans.get_finished_spans()
    assert [span.name for span in spans] == ["GET /v1.0/users?$filter&$select&$top", "POST /v1.0/invitations",
                                             "GET /v1.0/users/{id}?$select", "POST /v1.0/groups/{id}/members/$ref"]
    for span, status in zip(spans, (200, 201, 200, 204), strict=True):
        assert span.kind is SpanKind.CLIENT
        assert span.attributes["http.request.method"] == span.name.split()[0]
        assert span.attributes["url.template"] == span.name.split()[1]
        assert span.attributes["http.response.status_code"] == status
        assert span.attributes["server.address"] == urlsplit(app.sim.graph_endpoint).hostname
        assert span.end_time > span.start_time
        assert span.status.status_code is not StatusCode.ERROR
    assert "alice" not in repr([dict(span.attributes) for span in spans]) + repr([s.name for s in spans])
    assert PARTNERS_GROUP_ID not in repr([dict(span.attributes) for span in spans])


def test_application_insights_gets_the_fields_as_custom_dimensions_and_graph_as_dependencies(app, otel):
    answer = app.invite({"email": "bob@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    (done,) = otel.records("invite.done")
    envelope = _convert_log_to_envelope(next(item for item in otel.logs.get_finished_logs()
                                             if item.log_record is done))
    dimensions = envelope.data.base_data.properties
    assert envelope.data.base_type == "MessageData"
    assert dimensions["event"] == "invite.done" and dimensions["requestId"] == answer.body["requestId"]
    assert dimensions["outcome"] == "invited" and dimensions["email"] == "b***@fabrikam.com"

    lookup = _convert_span_to_envelope(otel.spans.get_finished_spans()[0])
    assert lookup.data.base_type == "RemoteDependencyData"
    dependency = lookup.data.base_data
    assert dependency.type == "HTTP" and dependency.result_code == "200" and dependency.success
    assert dependency.name == "GET /v1.0/users"
    assert dependency.data.endswith("/v1.0/users?$filter&$select&$top") and "bob" not in dependency.data


def test_a_graph_error_and_a_lost_answer_are_failed_dependencies_without_the_url(otel):
    class Tokens:
        def token(self) -> str:
            return "not-a-token"

        def invalidate(self) -> None:
            pass

    client = GraphClient("https://127.0.0.1:9", Tokens(), sleep=lambda seconds: None)  # nothing listens there
    with pytest.raises(GraphError) as failure:
        client.find_users_by_email("carol@fabrikam.com", client.budget(0.5))
    assert failure.value.code == "connectionFailed"
    spans = otel.spans.get_finished_spans()
    assert spans and all(span.status.status_code is StatusCode.ERROR for span in spans)
    assert {span.attributes["error.type"] for span in spans} == {"ConnectionError"}
    assert not any(span.events for span in spans)  # no exception event: its text would quote the $filter
    assert "carol" not in repr([dict(span.attributes) for span in spans])


def test_an_error_answer_marks_the_dependency_failed_with_its_status(app, otel):
    app.invite({"email": "dave@fabrikam.com", "groupIds": [PARTNERS_GROUP_ID]})
    otel.spans.clear()
    client = app_graph()
    with pytest.raises(GraphError):
        client.request("GET", "/users/00000000-0000-4000-8000-0000000000ff", budget=client.budget(5))
    (span,) = otel.spans.get_finished_spans()
    assert span.name == "GET /v1.0/users/{id}"
    assert span.attributes["http.response.status_code"] == 404 and span.attributes["error.type"] == "404"
    assert span.status.status_code is StatusCode.ERROR


def app_graph() -> GraphClient:
    from shared import runtime

    return runtime.graph()


@pytest.mark.parametrize(("url", "template"), [
    ("https://graph.microsoft.com/v1.0/groups/1b5e0c9a-0000-4000-8000-000000000001/members/$ref",
     "/v1.0/groups/{id}/members/$ref"),
    ("https://graph.microsoft.com/v1.0/users?$filter=mail%20eq%20'a%40b.com'&$select=id&$top=5",
     "/v1.0/users?$filter&$select&$top"),
    ("https://graph.microsoft.com/v1.0/users/alice@fabrikam.com", "/v1.0/users/{id}"),
    ("https://graph.microsoft.com/v1.0/sites/contoso.sharepoint.com,1a,2b/lists/3c/items/delta?token=x%40y",
     "/v1.0/sites/{id}/lists/{id}/items/delta?token"),
    ("https://graph.microsoft.com/v1.0/items/42", "/v1.0/items/{id}"),
    ("https://graph.microsoft.com/v1.0/x?a%40b=1", "/v1.0/x?{name}"),
])
def test_route_templates_keep_words_and_drop_ids_and_query_values(url, template):
    assert telemetry.route_template(url) == template


def test_a_field_named_like_a_log_record_attribute_is_kept_under_a_prefix(otel):
    log_event("test.event", name="n", msg="m", nested={"a": [1, 2]}, items=["x", "y"], ok=True)
    (record,) = otel.records("test.event")
    assert record.attributes["field.name"] == "n" and record.attributes["field.msg"] == "m"
    assert json.loads(record.attributes["nested"]) == {"a": [1, 2]}
    assert json.loads(record.attributes["items"]) == ["x", "y"] and record.attributes["ok"] is True


def test_without_a_connection_string_nothing_is_set_up(monkeypatch):
    monkeypatch.delenv(telemetry.CONNECTION_STRING, raising=False)
    telemetry.reset()
    try:
        assert telemetry.ensure_configured() is False
        with telemetry.graph_call("GET", "https://graph.microsoft.com/v1.0/users") as call:
            call.answered(200)  # a no-op
    finally:
        telemetry.reset()


SET_UP = """
import json, logging, os
from shared.logging_setup import LOGGER_NAME, log_event
log_event("first.record")
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
print(json.dumps({"handlers": [type(h).__name__ for h in logging.getLogger(LOGGER_NAME).handlers],
                  "requests": RequestsInstrumentor().is_instrumented_by_opentelemetry,
                  "urllib3": URLLib3Instrumentor().is_instrumented_by_opentelemetry}), flush=True)
os._exit(0)  # no export attempt at exit (the ingestion endpoint is a closed port)
"""
CONNECTION = "InstrumentationKey=00000000-0000-4000-8000-000000000000;IngestionEndpoint=https://127.0.0.1:9/"


def set_up_in_a_fresh_process(**settings: str) -> dict:
    environment = {**os.environ, "APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION,
                   "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true", **settings}
    if "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY" not in settings:
        environment.pop("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY", None)
    output = subprocess.run([sys.executable, "-c", SET_UP], cwd=ROOT, env=environment,  # noqa: S603
                            capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(output)


def test_the_distro_is_set_up_on_the_first_record_for_our_logger_only_and_instruments_nothing():
    state = set_up_in_a_fresh_process()
    assert state["handlers"] == ["LoggingHandler"]  # the distro's OpenTelemetry handler, on our logger
    assert (state["requests"], state["urllib3"]) == (False, False)  # no library records a full Graph URL


def test_the_worker_setting_means_the_worker_set_it_up_so_the_app_does_not_again():
    state = set_up_in_a_fresh_process(PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY="true")
    assert state["handlers"] == []
