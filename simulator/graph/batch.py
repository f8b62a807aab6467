"""POST /v1.0/$batch: JSON batching (MGDC concepts/json-batching.md). Inner requests go through the same routes,
faults, throttling and token checks as direct ones; each gets its own request-id and counts in Stats."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import GraphError, ServiceError
from ..server import RecordedRequest, Route
from ..wire import Headers, Request, Response
from . import exceptions
from .responses import GraphApi

MAX_REQUESTS = 20  # "JSON batch requests are currently limited to 20 individual requests"


class BatchHandler:
    def __init__(self, api: GraphApi, routes: list[Route]) -> None:
        self.api = api
        self.sim = api.sim
        self.routes = [(route, route.compiled()) for route in routes]

    def __call__(self, request: Request) -> Response:
        self.api.authorize(request, None)  # the batch itself needs a valid token; each step is checked by role
        try:
            body = request.json()
        except ValueError:
            raise exceptions.unreadable_json() from None
        steps = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            raise exceptions.bad_request("Invalid batch payload format.")
        self._validate(steps)
        answers: dict[str, Response] = {}
        results = []
        for step in steps:
            step_id = str(step["id"])
            failed = [d for d in step.get("dependsOn") or [] if answers[str(d).lower()].status >= 400]
            if failed:
                request_id = str(uuid.uuid4())
                response = GraphError(424, "FailedDependency", "Dependent request failed.").to_response(
                    request, request_id)
                response.headers["request-id"] = request_id
            else:
                response = self._dispatch(request, step)
            answers[step_id.lower()] = response
            results.append(_render(step_id, response))
        return Response.json(200, {"responses": results})

    @staticmethod
    def _validate(steps: list[dict[str, Any]]) -> None:
        if len(steps) > MAX_REQUESTS:
            raise exceptions.bad_request(f"Number of batch request steps exceeds the maximum of {MAX_REQUESTS}.")
        seen: set[str] = set()
        for step in steps:
            step_id = step.get("id")
            if step_id in (None, "") or not isinstance(step.get("method"), str) or not isinstance(step.get("url"), str):
                raise exceptions.bad_request("Invalid batch payload format.")
            if str(step_id).lower() in seen:  # ids are "not case-sensitive" (json-batching.md)
                raise exceptions.bad_request(f"Request Id {step_id} is duplicated.")
            for dependency in step.get("dependsOn") or []:
                if str(dependency).lower() not in seen:
                    raise exceptions.bad_request(f"Request Id {step_id} depends on an unknown or later request "
                                                 f"'{dependency}'.")
            seen.add(str(step_id).lower())
            headers = {k.lower() for k in (step.get("headers") or {})}
            if "body" in step and "content-type" not in headers:
                raise exceptions.bad_request(f"Write request id : {step_id} does not contain Content-Type header "
                                             "or body.")

    def _dispatch(self, outer: Request, step: dict[str, Any]) -> Response:
        url = urlsplit(step["url"] if step["url"].startswith("/") else "/" + step["url"])
        path = "/v1.0" + unquote(url.path)
        method = step["method"].upper()
        headers = Headers([(k, str(v)) for k, v in (step.get("headers") or {}).items()])
        if "Authorization" in outer.headers:
            headers["Authorization"] = outer.headers["Authorization"]
        body = step.get("body")
        raw = json.dumps(body).encode() if body is not None and not isinstance(body, str) else (body or "").encode()
        inner = Request(method=method, path=path, raw_path=path + ("?" + url.query if url.query else ""),
                        query=Request.parse_query(url.query), headers=headers, body=raw, service="graph",
                        base_url=outer.base_url, client_address=outer.client_address)
        request_id = str(uuid.uuid4())
        route_name = "(unrouted)"
        try:
            fault = self.sim.faults.pick("graph", method, path)
            route, params = self._resolve(method, path)
            route_name = route.name
            if fault and fault.status:
                response = self.sim._fault_response(inner, fault)
            else:
                inner.path_params = params
                response = route.handler(inner)
        except ServiceError as error:
            response = error.to_response(inner, request_id)
        response.headers.setdefault("request-id", request_id)
        self.sim.stats.record(RecordedRequest("graph", method, path, route_name, response.status, query=url.query))
        return response

    def _resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        for route, regex in self.routes:
            match = regex.match(path)
            if match and route.method == method:
                return route, {k: unquote(v) for k, v in match.groupdict().items()}
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{path}'.")


def _render(step_id: str, response: Response) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": step_id, "status": response.status,
                             "headers": {name: value for name, value in response.headers.items()}}
    if response.body:
        try:
            entry["body"] = json.loads(response.body)
        except ValueError:
            entry["body"] = response.body.decode("utf-8", "replace")
    return entry
