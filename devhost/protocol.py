"""A stand-in for the Functions host's generated protobuf module (``protos``), which the worker library receives from
its host in ``request.properties["protos"]`` and is not published on PyPI.

Message and field names are those of the published language worker protocol (FunctionRpc.proto in
Azure/azure-functions-language-worker-protobuf). Only the messages and fields the worker library reads or writes are
declared; a field that is not declared raises ``TypeError`` when set, so a worker that starts using one fails loudly
here instead of being answered with something made up. Unset fields read as protobuf's defaults (``""``, ``0``,
``False``, an empty map or list, an empty message), which the worker relies on (e.g. an HTTP request without a body).
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

_SCALAR_DEFAULTS: dict[Any, Any] = {str: "", int: 0, float: 0.0, bool: False, bytes: b""}


class Message:
    """A protobuf-like message: keyword construction, defaults on read, ``WhichOneof``/``HasField``."""

    FIELDS: ClassVar[dict[str, Any]] = {}  # field name -> str/int/float/bool/bytes/dict/list or a message class name
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, **values: Any) -> None:
        for name, value in values.items():
            if name not in self.FIELDS:
                raise TypeError(f"{type(self).__name__} has no field {name!r} in the stand-in protocol")
            if value is not None:  # protobuf treats None as "not set"
                self.__dict__[name] = value

    def __getattr__(self, name: str) -> Any:
        kind = type(self).FIELDS.get(name)
        if kind is None:
            raise AttributeError(name)
        if kind in (dict, list):
            value = kind()
            self.__dict__[name] = value  # a map or repeated field read unset is a live, empty container
            return value
        if isinstance(kind, str):
            return getattr(sys.modules[__name__], kind)()
        return _SCALAR_DEFAULTS[kind]

    def HasField(self, name: str) -> bool:
        return name in self.__dict__

    def WhichOneof(self, group: str) -> str | None:
        return next((name for name in self.ONEOFS[group] if name in self.__dict__), None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


# ---- host -> worker ------------------------------------------------------------------------------------------------
class StreamingMessage(Message):
    FIELDS: ClassVar = {"request_id": str, "worker_init_request": "WorkerInitRequest",
                        "functions_metadata_request": "FunctionsMetadataRequest",
                        "function_load_request": "FunctionLoadRequest", "invocation_request": "InvocationRequest"}
    ONEOFS: ClassVar = {"content": ("worker_init_request", "functions_metadata_request", "function_load_request",
                                    "invocation_request")}


class WorkerInitRequest(Message):
    FIELDS: ClassVar = {"capabilities": dict, "function_app_directory": str}


class FunctionsMetadataRequest(Message):
    FIELDS: ClassVar = {"function_app_directory": str}


class FunctionLoadRequest(Message):
    FIELDS: ClassVar = {"function_id": str, "metadata": "RpcFunctionMetadata"}


class InvocationRequest(Message):
    FIELDS: ClassVar = {"invocation_id": str, "function_id": str, "input_data": list, "trigger_metadata": dict,
                        "trace_context": "RpcTraceContext", "retry_context": "RetryContext"}


class RpcTraceContext(Message):
    FIELDS: ClassVar = {"trace_parent": str, "trace_state": str, "attributes": dict}


class RetryContext(Message):
    FIELDS: ClassVar = {"retry_count": int, "max_retry_count": int, "exception": "RpcException"}


# ---- both ways -----------------------------------------------------------------------------------------------------
class ParameterBinding(Message):
    FIELDS: ClassVar = {"name": str, "data": "TypedData"}
    ONEOFS: ClassVar = {"rpc_data": ("data",)}


class TypedData(Message):
    FIELDS: ClassVar = {"string": str, "json": str, "bytes": bytes, "stream": bytes, "http": "RpcHttp", "int": int,
                        "double": float}
    ONEOFS: ClassVar = {"data": ("string", "json", "bytes", "stream", "http", "int", "double")}


class RpcHttp(Message):
    FIELDS: ClassVar = {"method": str, "url": str, "headers": dict, "body": "TypedData", "params": dict,
                        "status_code": str, "query": dict, "enable_content_negotiation": bool, "cookies": list}


class RpcException(Message):
    FIELDS: ClassVar = {"source": str, "stack_trace": str, "message": str}

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        # In-process only, never on the wire: the worker builds this inside its ``except`` block, so the exception
        # being handled is the function's own; in-process callers (tests) may re-raise it. See devhost/worker.py.
        self.__dict__["_in_process_error"] = sys.exc_info()[1]


# ---- worker -> host ------------------------------------------------------------------------------------------------
class StatusResult(Message):
    Failure, Success, Cancelled = 0, 1, 2
    FIELDS: ClassVar = {"status": int, "result": str, "exception": "RpcException"}


class WorkerMetadata(Message):
    FIELDS: ClassVar = {"runtime_name": str, "runtime_version": str, "worker_version": str, "worker_bitness": str,
                        "custom_properties": dict}


class WorkerInitResponse(Message):
    FIELDS: ClassVar = {"capabilities": dict, "result": "StatusResult", "worker_metadata": "WorkerMetadata"}


class BindingInfo(Message):
    undefined, string, binary, stream = 0, 1, 2, 3  # DataType
    out, inout = 1, 2  # Direction (``in`` = 0 is set below: a Python keyword)
    FIELDS: ClassVar = {"type": str, "direction": int, "data_type": int}


setattr(BindingInfo, "in", 0)


class RpcRetryOptions(Message):
    exponential_backoff, fixed_delay = 0, 1
    FIELDS: ClassVar = {"max_retry_count": int, "delay_interval": object, "minimum_interval": object,
                        "maximum_interval": object, "retry_strategy": object}


class RpcFunctionMetadata(Message):
    FIELDS: ClassVar = {"name": str, "directory": str, "script_file": str, "entry_point": str, "bindings": dict,
                        "is_proxy": bool, "language": str, "raw_bindings": list, "function_id": str,
                        "managed_dependency_enabled": bool, "retry_options": "RpcRetryOptions", "properties": dict}


class FunctionMetadataResponse(Message):
    FIELDS: ClassVar = {"function_metadata_results": list, "result": "StatusResult",
                        "use_default_metadata_indexing": bool}


class FunctionLoadResponse(Message):
    FIELDS: ClassVar = {"function_id": str, "result": "StatusResult"}


class InvocationResponse(Message):
    FIELDS: ClassVar = {"invocation_id": str, "output_data": list, "return_value": "TypedData",
                        "result": "StatusResult"}


# Cookies on an HTTP answer (the worker writes them when a function sets Set-Cookie).
class NullableString(Message):
    FIELDS: ClassVar = {"value": str}


class NullableBool(Message):
    FIELDS: ClassVar = {"value": bool}


class NullableDouble(Message):
    FIELDS: ClassVar = {"value": float}


class Timestamp(Message):  # google.protobuf.Timestamp
    FIELDS: ClassVar = {"seconds": int, "nanos": int}


class NullableTimestamp(Message):
    FIELDS: ClassVar = {"value": "Timestamp"}


class RpcHttpCookie(Message):
    class SameSite:
        Lax, Strict, ExplicitNone = 1, 2, 3

    FIELDS: ClassVar = {"name": str, "value": str, "domain": "NullableString", "path": "NullableString",
                        "expires": "NullableTimestamp", "secure": "NullableBool", "http_only": "NullableBool",
                        "same_site": int, "max_age": "NullableDouble"}


setattr(RpcHttpCookie.SameSite, "None", 0)
