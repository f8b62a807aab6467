"""The SharePoint worker's table (``sharepointstate``) and the membership queue, in the app's storage account.

Built by :mod:`shared.storage` from ``AzureWebJobsStorage`` as the Functions host reads it: a connection string
(Azurite, an account key) or the identity-based form the deployment uses (``AzureWebJobsStorage__tableServiceUri``
/ ``__queueServiceUri`` or ``__accountName``, ``__credential=managedidentity``, ``__clientId``;
azure-docs functions-reference "Connecting to host storage with an identity"; the identity needs Storage Table
Data Contributor and Storage Queue Data Contributor).
One client per table/queue and storage target per process: the SDK clients keep their connections.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.data.tables import TableClient
from azure.storage.queue import QueueClient

from .. import app_context, storage
from ..storage import queue_service, storage_target, table_service


def table_client(table: str, environ: Mapping[str, str] | None = None) -> TableClient:
    return _client("table", table, environ)


def queue_client(queue: str, environ: Mapping[str, str] | None = None) -> QueueClient:
    # No encode policy: messages go as plain text, which host.json's messageEncoding "none" expects.
    return _client("queue", queue, environ)


def reset() -> None:
    """Kept for the test harnesses: app_context.reset() forgets these clients with everything else."""
    ctx = app_context.current()
    with ctx.lock:
        ctx.storage_clients.clear()


def _client(kind: str, name: str, environ: Mapping[str, str] | None) -> Any:
    if environ is None:  # the process's own setting: the application context's clients (shared.storage)
        return storage.table_client(name) if kind == "table" else storage.queue_client(name)
    key = (kind, name, storage_target(environ))  # SettingsError names the setting when it is missing or malformed
    ctx = app_context.current()
    with ctx.lock:
        clients = ctx.storage_clients
        if key not in clients:
            if kind == "table":
                clients[key] = table_service(environ).get_table_client(name)
            else:
                clients[key] = queue_service(environ).get_queue_client(name)
        return clients[key]
