"""SharePoint REST's list webhook subscription routes (sp-dev-docs docs/apis/webhooks/lists/*-subscription.md):
``{site}/_api/web/lists('{list-id}')/subscriptions[('{id}')]``. JSON light by default, ``{"d": …}`` with
``Accept: application/json;odata=verbose``."""

from __future__ import annotations

from typing import Any

from ..wire import Request, Response
from . import exceptions
from .auth import rest_authorize
from .models import SharePointBackend, Site, SpList
from .subscriptions import Subscription

SUBSCRIPTION_TYPE = "Microsoft.SharePoint.Webhooks.Subscription"


class SubscriptionsRestApi:
    def __init__(self, backend: SharePointBackend) -> None:
        self.backend = backend

    def create(self, request: Request) -> Response:
        site, sp_list, claims = self._list_of(request, "write")
        subscription = self.backend.subscriptions.create(sp_list, _json(request), _app_id(claims))
        return self._render(request, 201, site, sp_list, subscription)

    def list_all(self, request: Request) -> Response:
        """All subscriptions of a list: "full control" (get-subscription.md, "Get all subscriptions")."""
        site, sp_list, _ = self._list_of(request, "fullcontrol")
        subscriptions = self.backend.subscriptions.of_list(sp_list.id)
        if _verbose(request):
            payload: dict[str, Any] = {"d": {"results": [self._verbose(site, sp_list, s) for s in subscriptions]}}
        else:
            payload = {"odata.metadata": f"{self.backend.site_url(site)}/_api/$metadata#SP.ApiData.Subscriptions",
                       "value": [self._light(site, sp_list, s) for s in subscriptions]}
        return _answer(request, 200, payload)

    def get_one(self, request: Request) -> Response:
        site, sp_list, claims = self._list_of(request, "write")
        subscription = self.backend.subscriptions.get(sp_list, request.path_params["subscription"], _app_id(claims))
        return self._render(request, 200, site, sp_list, subscription)

    def update(self, request: Request) -> Response:
        """PATCH: 204 No Content (update-subscription.md)."""
        _, sp_list, claims = self._list_of(request, "write")
        self.backend.subscriptions.update(sp_list, request.path_params["subscription"], _json(request),
                                          _app_id(claims))
        return Response.empty(204)

    def delete(self, request: Request) -> Response:
        _, sp_list, claims = self._list_of(request, "write")
        self.backend.subscriptions.delete(sp_list, request.path_params["subscription"], _app_id(claims))
        return Response.empty(204)

    # ---- helpers -----------------------------------------------------------------------------------------------
    def _list_of(self, request: Request, need: str) -> tuple[Site, SpList, dict[str, Any]]:
        with self.backend.lock:
            site = self.backend.sites.get((request.path_params.get("site") or "/").lower())
        if site is None:
            raise exceptions.SharePointRestError(404, "-2147024894, System.IO.FileNotFoundException",
                                                 "File Not Found.")
        claims = rest_authorize(self.backend, request, site, need)
        with self.backend.lock:
            sp_list = self.backend.lists.get(request.path_params["list"].lower())
        if sp_list is None or sp_list.site is not site:
            raise exceptions.rest_list_not_found()
        return site, sp_list, claims

    def _render(self, request: Request, status: int, site: Site, sp_list: SpList,
                subscription: Subscription) -> Response:
        if _verbose(request):
            return _answer(request, status, {"d": self._verbose(site, sp_list, subscription)})
        return _answer(request, status, self._light(site, sp_list, subscription))

    def _odata_id(self, site: Site, sp_list: SpList, subscription: Subscription) -> str:
        return (f"{self.backend.site_url(site)}/_api/web/lists('{sp_list.id}')/subscriptions"
                f"('{subscription.id}')")

    def _light(self, site: Site, sp_list: SpList, subscription: Subscription) -> dict[str, Any]:
        odata_id = self._odata_id(site, sp_list, subscription)
        return {"odata.type": SUBSCRIPTION_TYPE, "odata.id": odata_id,
                "odata.editLink": odata_id.split("/_api/", 1)[1], **subscription.resource()}

    def _verbose(self, site: Site, sp_list: SpList, subscription: Subscription) -> dict[str, Any]:
        odata_id = self._odata_id(site, sp_list, subscription)
        return {"__metadata": {"id": odata_id, "uri": odata_id, "type": SUBSCRIPTION_TYPE},
                **subscription.resource()}


def _app_id(claims: dict[str, Any]) -> str | None:
    return claims.get("appid") or claims.get("azp")


def _verbose(request: Request) -> bool:
    return "odata=verbose" in (request.headers.get("Accept") or "").lower()


def _answer(request: Request, status: int, payload: dict[str, Any]) -> Response:
    response = Response.json(status, payload)
    response.headers["Content-Type"] = ("application/json;odata=verbose;charset=utf-8" if _verbose(request) else
                                        "application/json;odata=minimalmetadata;streaming=true;charset=utf-8")
    return response


def _json(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise exceptions.rest_bad_request("Invalid JSON. A token was not recognized in the JSON content.") from None
    if not isinstance(body, dict):
        raise exceptions.rest_bad_request("The body must be a JSON object.")
    return body
