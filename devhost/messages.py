"""What the Functions host puts in an invocation request, and how it reads the worker's answer, for the three
triggers and the two outputs this app uses. The rules are the host's (its gRPC message conversion for out-of-process
workers), narrowed to what the worker reads; docs/local-host.md lists what is filled and what is left empty.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from devhost import protocol


def http_request(method: str, url: str, *, headers: dict[str, str], body: bytes,
                 route_params: dict[str, str] | None = None) -> protocol.TypedData:
    """An HTTP request as the host sends it to a worker that announced RawHttpBodyBytes and RpcHttpBodyOnly: header
    names lower-cased, query values decoded (a repeated name's values joined with ","; empty ones left out), the
    body as bytes and only when there is one."""
    query: dict[str, str] = {}
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    http = protocol.RpcHttp(method=method.upper(), url=url,
                            headers={name.lower(): value for name, value in headers.items()},
                            query={name: value for name, value in query.items() if value},
                            params=dict(route_params or {}))
    if body:
        http.body = protocol.TypedData(bytes=bytes(body))
    return protocol.TypedData(http=http)


def http_response(answer: protocol.RpcHttp) -> func.HttpResponse:
    """The worker's ``$return`` as the host answers the caller."""
    kind = answer.body.WhichOneof("data")
    body = answer.body.string.encode("utf-8") if kind == "string" else answer.body.bytes
    headers = dict(answer.headers)
    for cookie in answer.cookies:  # the host writes each cookie as its own Set-Cookie header; none of ours sets one
        headers["Set-Cookie"] = f"{cookie.name}={cookie.value}"
    return func.HttpResponse(body, status_code=int(answer.status_code or 200), headers=headers)


def _json(value: Any) -> protocol.TypedData:
    return protocol.TypedData(json=json.dumps(value))


def _timestamp(value: dt.datetime | None) -> protocol.TypedData | None:
    # The host serialises a DateTimeOffset to JSON as an ISO 8601 string with its offset.
    return None if value is None else _json(value.astimezone(dt.UTC).isoformat())


def queue_trigger_metadata(*, message_id: str | None = None, dequeue_count: int = 1,
                           insertion_time: dt.datetime | None = None, expiration_time: dt.datetime | None = None,
                           next_visible_time: dt.datetime | None = None,
                           pop_receipt: str | None = None) -> dict[str, protocol.TypedData]:
    """The queue trigger's metadata the worker reads into ``func.QueueMessage``: Id and PopReceipt as strings,
    DequeueCount and the three times as JSON (the host converts numbers and dates with its JSON serialiser)."""
    now = dt.datetime.now(dt.UTC)
    values = {
        "Id": protocol.TypedData(string=message_id or "00000000-0000-0000-0000-000000000000"),
        "DequeueCount": _json(dequeue_count),
        "InsertionTime": _timestamp(insertion_time or now),
        "ExpirationTime": _timestamp(expiration_time or now + dt.timedelta(days=7)),
        "NextVisibleTime": _timestamp(next_visible_time or now + dt.timedelta(minutes=10)),
        "PopReceipt": protocol.TypedData(string=pop_receipt) if pop_receipt else None,
    }
    return {name: value for name, value in values.items() if value is not None}


def timer_info(*, past_due: bool, last: str | None, next_: str | None) -> protocol.TypedData:
    """The TimerInfo the host sends as JSON (Schedule, ScheduleStatus, IsPastDue)."""
    status = None if last is None and next_ is None else {"Last": last, "Next": next_, "LastUpdated": last}
    return _json({"Schedule": {"AdjustForDST": True}, "ScheduleStatus": status, "IsPastDue": past_due})


def queue_messages(data: protocol.TypedData) -> list[str]:
    """An output binding's data as the queue messages the host writes: a string or bytes is one message, a JSON
    array one message per item (a string item as itself, anything else as its JSON text)."""
    kind = data.WhichOneof("data")
    if kind == "string":
        return [data.string]
    if kind == "bytes":  # with messageEncoding "none" a queue message is text
        return [data.bytes.decode("utf-8")]
    if kind == "json":
        value = json.loads(data.json)
        items = value if isinstance(value, list) else [value]
        return [item if isinstance(item, str) else json.dumps(item, separators=(",", ":")) for item in items]
    raise ValueError(f"a queue output of TypedData {kind!r} is not something this host writes")
