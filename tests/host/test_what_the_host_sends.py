"""What devhost hands the worker is what the host sends, read back through the worker's own converters (the path
every invocation takes): the queue trigger's body and metadata, the HTTP request, the timer info."""

from __future__ import annotations

import datetime as dt

import azure.functions as func
from azure_functions_runtime.bindings import meta

from devhost import messages, protocol

WHEN = dt.datetime(2026, 12, 2, 5, 40, 26, 123456, tzinfo=dt.UTC)


def _decode(binding: str, data: protocol.TypedData, pytype: type, metadata: dict | None = None) -> object:
    meta.load_binding_registry()
    return meta.from_incoming_proto(binding, protocol.ParameterBinding(name="x", data=data), pytype=pytype,
                                    trigger_metadata=metadata, function_name="probe")


def test_a_queue_message_reaches_the_function_with_the_hosts_metadata() -> None:
    metadata = messages.queue_trigger_metadata(message_id="m-42", dequeue_count=3, insertion_time=WHEN,
                                               expiration_time=WHEN + dt.timedelta(days=7),
                                               next_visible_time=WHEN + dt.timedelta(minutes=2), pop_receipt="pr-1")
    for body in ('{"a": "é"}', '{"a": "é"}'.encode()):
        data = protocol.TypedData(bytes=body) if isinstance(body, bytes) else protocol.TypedData(string=body)
        message = _decode("queueTrigger", data, func.QueueMessage, metadata)

        assert isinstance(message, func.QueueMessage)
        assert message.get_body() == '{"a": "é"}'.encode()
        assert message.id == "m-42" and message.dequeue_count == 3 and message.pop_receipt == "pr-1"
        assert message.insertion_time == WHEN
        assert message.expiration_time == WHEN + dt.timedelta(days=7)
        assert message.time_next_visible == WHEN + dt.timedelta(minutes=2)


def test_an_http_request_reaches_the_function_as_the_host_shapes_it() -> None:
    data = messages.http_request("post", "https://app.example/api/invitations?code=k&tag=a&tag=b&empty=",
                                 headers={"Content-Type": "application/json", "X-Request-Id": "r-1"},
                                 body=b'{"email": "a@b.example"}')
    request = _decode("httpTrigger", data, func.HttpRequest)

    assert isinstance(request, func.HttpRequest)
    assert request.method == "POST" and request.url.startswith("https://app.example/api/invitations?")
    assert request.params == {"code": "k", "tag": "a,b"}  # repeated values joined, empty ones left out
    assert request.headers["content-type"] == "application/json" and request.headers["x-request-id"] == "r-1"
    assert request.get_json() == {"email": "a@b.example"}


def test_an_http_request_without_a_body_has_an_empty_body() -> None:
    request = _decode("httpTrigger", messages.http_request("GET", "http://localhost/api/health", headers={},
                                                           body=b""), func.HttpRequest)

    assert request.get_body() == b""


def test_the_timer_info_reaches_the_function() -> None:
    timer = _decode("timerTrigger", messages.timer_info(past_due=True, last=None, next_=None), func.TimerRequest)

    assert isinstance(timer, func.TimerRequest) and timer.past_due is True


def test_queue_outputs_are_written_as_the_host_writes_them() -> None:
    assert messages.queue_messages(protocol.TypedData(string="one")) == ["one"]
    assert messages.queue_messages(protocol.TypedData(json='["a", "b"]')) == ["a", "b"]
    assert messages.queue_messages(protocol.TypedData(json="[]")) == []
