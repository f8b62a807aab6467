"""The request/response layer: what a route handler receives and returns, free of socket details."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


class Headers:
    """Case-insensitive header mapping, as HTTP headers are."""

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in items or []:
            self[name] = value

    def __setitem__(self, name: str, value: str) -> None:
        self._items[name.lower()] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def get(self, name: str, default: str | None = None) -> str | None:
        item = self._items.get(name.lower())
        return item[1] if item else default

    def setdefault(self, name: str, value: str) -> str:
        if name not in self:
            self[name] = value
        return self[name]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items.values())

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"


@dataclass
class Request:
    method: str
    path: str  # decoded path, without the query string
    raw_path: str  # the request target as sent, query string included
    query: dict[str, list[str]]
    headers: Headers
    body: bytes
    service: str
    base_url: str  # scheme://host:port of the service that received it
    path_params: dict[str, str] = field(default_factory=dict)
    client_address: tuple[str, int] | None = None

    @classmethod
    def parse_query(cls, query_string: str) -> dict[str, list[str]]:
        return parse_qs(query_string, keep_blank_values=True)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter. OData's system options ($filter…) are matched case-insensitively."""
        for key, values in self.query.items():
            if key == name or (name.startswith("$") and key.lower() == name.lower()):
                return values[0]
        return default

    def json(self) -> Any:
        """The body as JSON. Raises ValueError (json.JSONDecodeError or UnicodeDecodeError) if it is not."""
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        """An application/x-www-form-urlencoded body, first value of each field."""
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: Headers = field(default_factory=Headers)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        response = cls(status, json.dumps(payload).encode("utf-8"))
        response.headers["Content-Type"] = "application/json; charset=utf-8"
        for name, value in (headers or {}).items():
            response.headers[name] = value
        return response

    @classmethod
    def empty(cls, status: int = 204, headers: dict[str, str] | None = None) -> Response:
        response = cls(status)
        for name, value in (headers or {}).items():
            response.headers[name] = value
        return response

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Response:
        response = cls(status, text.encode("utf-8"))
        response.headers["Content-Type"] = content_type
        return response
