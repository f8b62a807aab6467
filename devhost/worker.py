"""The app loaded and invoked by the real Azure Functions Python worker (``azure_functions_runtime``, the library the
host runs for Python 3.13+), driven the way the host drives it: ``worker_init_request`` (the worker indexes
``function_app.py`` and checks every binding against the signature), ``functions_metadata_request`` (the bindings the
worker reports), ``function_load_request`` per function, then one ``invocation_request`` per trigger.

What the host would send is built by :mod:`devhost.messages`; this module only speaks to the worker and reads its
answers back the way the host does (HTTP answer from ``$return``, each output binding's data as queue messages).
One worker per process, as on Azure: the worker library keeps its registry in module globals.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
import azure_functions_runtime as runtime_worker

from devhost import messages, protocol

ROOT = Path(__file__).resolve().parent.parent


class WorkerRefused(RuntimeError):
    """The worker would not index or load the app: on Azure the function (or the whole app) would not exist."""


@dataclass(frozen=True)
class LoadedFunction:
    """One function as the worker reported it to the host (its metadata: ``raw_bindings`` parsed)."""

    name: str
    function_id: str
    bindings: list[dict[str, Any]]

    def trigger(self) -> dict[str, Any]:
        return next(b for b in self.bindings if b["direction"] == "IN" and b["type"].endswith("Trigger"))

    def queue_outputs(self) -> dict[str, str]:
        """Output binding name -> queue name."""
        return {b["name"]: b["queueName"] for b in self.bindings if b["direction"] == "OUT" and b["type"] == "queue"}


@dataclass
class Invocation:
    """One invocation as the host saw it."""

    function: str
    status: int | None = None  # HTTP functions: the status the caller got (500 when the function raised)
    error: BaseException | None = None  # in-process only: the exception the function raised
    error_message: str | None = None  # what the worker reported: "Type: message"
    outputs: dict[str, list[str]] = field(default_factory=dict)  # queue name -> messages the host would write
    response: func.HttpResponse | None = None  # HTTP functions: rebuilt from the worker's answer

    def raise_error(self) -> None:
        """Re-raise what the function raised (in-process callers that expect the exception, as before the worker)."""
        if self.error is not None:
            raise self.error
        if self.error_message is not None:
            raise RuntimeError(self.error_message)


class _HostMessage:
    """What the worker's handlers receive: the streaming message and the host's properties."""

    def __init__(self, **content: Any) -> None:
        self.request = protocol.StreamingMessage(request_id=str(uuid.uuid4()), **content)
        self.properties = {"host": "127.0.0.1", "protos": protocol}


def _failure(result: protocol.StatusResult) -> str | None:
    if result.status == protocol.StatusResult.Success:
        return None
    return result.exception.message or "failed without a message"


class Worker:
    def __init__(self, app_directory: Path = ROOT) -> None:
        self.app_directory = app_directory
        if str(app_directory) not in sys.path:  # the host starts the worker in the app's directory
            sys.path.insert(0, str(app_directory))
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="functions-worker", daemon=True).start()
        self.functions = self._start()

    def _ask(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _start(self) -> dict[str, LoadedFunction]:
        init = self._ask(runtime_worker.worker_init_request(_HostMessage(worker_init_request=protocol.WorkerInitRequest(
            capabilities={}, function_app_directory=str(self.app_directory)))))
        if (problem := _failure(init.result)) is not None:
            raise WorkerRefused(f"the Python worker refused to index {self.app_directory / 'function_app.py'}: "
                                f"{problem}")
        runtime_worker.start_threadpool_executor()  # the host's worker process starts it after init
        report = self._ask(runtime_worker.functions_metadata_request(_HostMessage(
            functions_metadata_request=protocol.FunctionsMetadataRequest(
                function_app_directory=str(self.app_directory)))))
        if (problem := _failure(report.result)) is not None:
            raise WorkerRefused(f"the Python worker reported no metadata: {problem}")
        functions = {}
        for metadata in report.function_metadata_results:
            loaded = self._ask(runtime_worker.function_load_request(_HostMessage(
                function_load_request=protocol.FunctionLoadRequest(function_id=metadata.function_id,
                                                                   metadata=metadata))))
            if (problem := _failure(loaded.result)) is not None:
                raise WorkerRefused(f"the Python worker did not load {metadata.name}: {problem}")
            functions[metadata.name] = LoadedFunction(metadata.name, metadata.function_id,
                                                      [json.loads(raw) for raw in metadata.raw_bindings])
        return functions

    # ---- invocations ---------------------------------------------------------------------------------------------
    def invoke(self, name: str, input_data: dict[str, protocol.TypedData],
               trigger_metadata: dict[str, protocol.TypedData] | None = None) -> Invocation:
        """One ``invocation_request``; the answer read back as the host reads it."""
        function = self.functions[name]
        request = protocol.InvocationRequest(
            invocation_id=str(uuid.uuid4()), function_id=function.function_id,
            input_data=[protocol.ParameterBinding(name=n, data=d) for n, d in input_data.items()],
            trigger_metadata=trigger_metadata or {})
        answer = self._ask(runtime_worker.invocation_request(_HostMessage(invocation_request=request)))
        invocation = Invocation(name)
        problem = _failure(answer.result)
        if problem is not None:  # the host writes no output binding of a failed invocation
            invocation.error_message = problem
            invocation.error = answer.result.exception.__dict__.get("_in_process_error")
            if function.trigger()["type"] == "httpTrigger":
                invocation.status, invocation.response = 500, func.HttpResponse(b"", status_code=500)
            return invocation
        outputs = function.queue_outputs()
        for binding in answer.output_data:
            invocation.outputs.setdefault(outputs[binding.name], []).extend(messages.queue_messages(binding.data))
        if answer.HasField("return_value") and answer.return_value.WhichOneof("data") == "http":
            invocation.response = messages.http_response(answer.return_value.http)
            invocation.status = invocation.response.status_code
        return invocation

    def http(self, name: str, method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes = b"",
             route_params: dict[str, str] | None = None) -> Invocation:
        """An HTTP-triggered function, with the request as the host sends it."""
        trigger = self.functions[name].trigger()
        data = messages.http_request(method, url, headers=headers or {}, body=body, route_params=route_params)
        return self.invoke(name, {trigger["name"]: data})

    def queue(self, name: str, body: str | bytes, **metadata: Any) -> Invocation:
        """A queue-triggered function on one message (``body`` as a string, or bytes for a binary message); the
        trigger metadata as the host sends it (see :func:`devhost.messages.queue_trigger_metadata`)."""
        trigger = self.functions[name].trigger()
        data = protocol.TypedData(bytes=body) if isinstance(body, bytes) else protocol.TypedData(string=body)
        return self.invoke(name, {trigger["name"]: data}, messages.queue_trigger_metadata(**metadata))

    def timer(self, name: str, *, past_due: bool = False, last: str | None = None, next_: str | None = None) -> \
            Invocation:
        """A timer-triggered function, with the timer info the host sends."""
        trigger = self.functions[name].trigger()
        return self.invoke(name, {trigger["name"]: messages.timer_info(past_due=past_due, last=last, next_=next_)})


_lock = threading.Lock()
_worker: Worker | None = None


def worker() -> Worker:
    """The process's worker, with the app indexed and loaded (once: the worker library keeps module state)."""
    global _worker
    with _lock:
        if _worker is None:
            _worker = Worker()
        return _worker
