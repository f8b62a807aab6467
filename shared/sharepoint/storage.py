"""Clients for the app's storage account (``AzureWebJobsStorage``): the table of SharePoint state and the
membership queue. A connection string (Azurite, or an account key) or the identity-based form the deployment
uses (``AzureWebJobsStorage__accountName`` / ``__tableServiceUri`` / ``__queueServiceUri`` with
``__credential=managedidentity`` and ``__clientId``; cloud-facts, "Identity-based storage"). One client per
table/queue per process."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from azure.data.tables import TableClient
from azure.storage.queue import QueueClient

from ..settings import SettingsError

CONNECTION = "AzureWebJobsStorage"
_clients: dict[tuple[str, str, str], Any] = {}
_lock = threading.Lock()


def table_client(table: str, environ: Mapping[str, str] | None = None) -> TableClient:
    return _client("table", table, os.environ if environ is None else environ)


def queue_client(queue: str, environ: Mapping[str, str] | None = None) -> QueueClient:
    # No encode policy: messages go as plain text, which host.json's messageEncoding "none" expects.
    return _client("queue", queue, os.environ if environ is None else environ)


def reset() -> None:
    with _lock:
        _clients.clear()


def _client(kind: str, name: str, environ: Mapping[str, str]) -> Any:
    connection = (environ.get(CONNECTION) or "").strip()
    key = (kind, name, connection or _service_uri(kind, environ))
    with _lock:
        if key not in _clients:
            _clients[key] = _build(kind, name, connection, environ)
        return _clients[key]


def _build(kind: str, name: str, connection: str, environ: Mapping[str, str]) -> Any:
    if connection:
        if kind == "table":
            return TableClient.from_connection_string(connection, table_name=name)
        return QueueClient.from_connection_string(connection, name)
    endpoint = _service_uri(kind, environ)
    if not endpoint:
        raise SettingsError({CONNECTION: "not set: give a connection string or AzureWebJobsStorage__accountName"})
    from azure.identity import ManagedIdentityCredential  # only the identity-based form needs it

    client_id = environ.get(f"{CONNECTION}__clientId") or None
    credential = ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()
    if kind == "table":
        return TableClient(endpoint, table_name=name, credential=credential)
    return QueueClient(endpoint, name, credential=credential)


def _service_uri(kind: str, environ: Mapping[str, str]) -> str:
    explicit = environ.get(f"{CONNECTION}__{kind}ServiceUri")
    account = environ.get(f"{CONNECTION}__accountName")
    if explicit:
        return explicit.rstrip("/")
    return f"https://{account}.{kind}.core.windows.net" if account else ""
