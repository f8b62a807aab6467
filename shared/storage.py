"""Clients for the app's storage account, read from its storage setting the way the Functions host reads it.

- ``AzureWebJobsStorage``: a connection string (an account key or SAS, or ``UseDevelopmentStorage=true`` for
  Azurite on 127.0.0.1).
- Identity-based (what the deployment uses; its storage account has shared keys off, so only these exist):
  ``AzureWebJobsStorage__queueServiceUri`` / ``__tableServiceUri``, or ``__accountName`` (public cloud:
  ``https://{name}.queue.core.windows.net``), with ``__credential=managedidentity`` and, for a user-assigned
  identity, ``__clientId`` (azure-docs functions-reference "Connecting to host storage with an identity").

The credential is explicit, never a DefaultAzureCredential chain: managed identity when ``__credential`` says so
or the process runs on an App Service/Functions host (``IDENTITY_ENDPOINT`` set; without ``__credential`` the host
uses the system-assigned identity), else the developer's Azure CLI login (``az login``; the developer needs the
storage data roles, see docs/deploy.md ``DEVELOPER_PRINCIPAL_ID``). azure-identity is imported only then.
Every direct SDK use of the storage account goes through this module.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .settings import SettingsError

STORAGE_SETTING = "AzureWebJobsStorage"
_KINDS = ("queue", "table")


@dataclass(frozen=True)
class StorageTarget:
    """Where the storage account is and how to authenticate; ``describe()`` never includes a key."""

    connection_string: str | None = None  # the whole setting: may hold an account key
    queue_url: str | None = None
    table_url: str | None = None
    credential: str | None = None  # "managedidentity" | "azurecli" (identity-based form only)
    client_id: str | None = None  # user-assigned managed identity

    def __repr__(self) -> str:  # the dataclass repr would print the connection string (and its key)
        return f"StorageTarget({self.describe()})"

    def describe(self) -> str:
        if self.connection_string is not None:
            if self.connection_string.strip().lower() == "usedevelopmentstorage=true":
                return f"{STORAGE_SETTING} = UseDevelopmentStorage=true (Azurite on 127.0.0.1)"
            return f"{STORAGE_SETTING} connection string"
        identity = f"managed identity {self.client_id}" if self.client_id else (
            "system-assigned managed identity" if self.credential == "managedidentity" else "Azure CLI login")
        return f"{STORAGE_SETTING}__* identity-based ({identity})"


def storage_target(environ: Mapping[str, str] | None = None) -> StorageTarget:
    """Read the storage setting; SettingsError names the setting when it is missing or malformed."""
    environ = os.environ if environ is None else environ
    connection = (environ.get(STORAGE_SETTING) or "").strip()
    if connection:
        return StorageTarget(connection_string=connection)
    urls = {kind: service_uri(kind, environ) for kind in _KINDS}
    if not any(urls.values()):
        raise SettingsError({STORAGE_SETTING: (
            f"not set: give a connection string (UseDevelopmentStorage=true for Azurite) or the identity-based "
            f"{STORAGE_SETTING}__accountName (or __queueServiceUri and __tableServiceUri)")})
    credential = (_setting(environ, "credential") or "").lower()
    if credential and credential != "managedidentity":
        # by name and reason, never by value (a setting may hold a secret, and its size is anyone's)
        raise SettingsError({f"{STORAGE_SETTING}__credential": "the only value is managedidentity"})
    on_azure_host = bool(environ.get("IDENTITY_ENDPOINT") or environ.get("MSI_ENDPOINT"))
    client_id = _setting(environ, "clientId")
    kind = "managedidentity" if credential or client_id or on_azure_host else "azurecli"
    return StorageTarget(queue_url=urls["queue"], table_url=urls["table"], credential=kind, client_id=client_id)


def service_uri(kind: str, environ: Mapping[str, str]) -> str | None:
    """``__{kind}ServiceUri``, else derived from ``__accountName`` (public cloud endpoints)."""
    explicit = _setting(environ, f"{kind}ServiceUri")
    if explicit:
        return explicit.rstrip("/")
    account = _setting(environ, "accountName")
    return f"https://{account}.{kind}.core.windows.net" if account else None


def queue_service(environ: Mapping[str, str] | None = None, **options: Any) -> Any:
    """An ``azure.storage.queue.QueueServiceClient``; ``options`` go to the client (e.g. ``retry_total``,
    ``connection_timeout``)."""
    from azure.storage.queue import QueueServiceClient

    target = storage_target(environ)
    if target.connection_string is not None:
        with _malformed_connection():
            return QueueServiceClient.from_connection_string(target.connection_string, **options)
    if not target.queue_url:
        raise SettingsError({f"{STORAGE_SETTING}__queueServiceUri": "not set (nor __accountName)"})
    return QueueServiceClient(target.queue_url, credential=_credential(target), **options)


def table_service(environ: Mapping[str, str] | None = None, **options: Any) -> Any:
    """An ``azure.data.tables.TableServiceClient``; ``options`` go to the client."""
    from azure.data.tables import TableServiceClient

    target = storage_target(environ)
    if target.connection_string is not None:
        with _malformed_connection():
            return TableServiceClient.from_connection_string(target.connection_string, **options)
    if not target.table_url:
        raise SettingsError({f"{STORAGE_SETTING}__tableServiceUri": "not set (nor __accountName)"})
    return TableServiceClient(target.table_url, credential=_credential(target), **options)


@contextlib.contextmanager
def _malformed_connection() -> Iterator[None]:
    """The SDKs refuse a malformed connection string with ValueError: a setting to fix, named, never echoed (it may
    hold the account key)."""
    try:
        yield
    except ValueError as error:
        raise SettingsError({STORAGE_SETTING: (
            "not a storage connection string (DefaultEndpointsProtocol=…;AccountName=…;AccountKey=…, or "
            "UseDevelopmentStorage=true for Azurite)")}) from error


def _credential(target: StorageTarget) -> Any:
    if target.credential == "managedidentity":
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=target.client_id) if target.client_id \
            else ManagedIdentityCredential()
    from azure.identity import AzureCliCredential

    return AzureCliCredential()


def _setting(environ: Mapping[str, str], suffix: str) -> str | None:
    value = (environ.get(f"{STORAGE_SETTING}__{suffix}") or "").strip()
    return value or None


# Table clients whose table is known to exist. The clients are per process (_cached_client) and the stores built on
# them per invocation, so this spares each invocation a Create Table request (answered 409 once the table exists).
_tables_made: weakref.WeakSet[Any] = weakref.WeakSet()
_tables_lock = threading.Lock()


def ensure_table(table: Any) -> None:
    """Create the table behind ``table`` (a TableClient) once per client; a table that exists already is fine."""
    from azure.core.exceptions import ResourceExistsError

    with _tables_lock:
        if table in _tables_made:
            return
    with contextlib.suppress(ResourceExistsError):
        table.create_table()
    with _tables_lock:
        _tables_made.add(table)


# A secret as a connection string or SAS URL would carry it (name=value up to the next ; & or space): linear.
_SECRET_PART = re.compile(r"(?i)\b(AccountKey|SharedAccessSignature|sig)=[^;&\s]*")


class WriteConflict(Exception):
    """Someone else wrote the entity between our read and our write (:func:`create_or_replace`)."""


def create_or_replace(table: Any, entity: dict[str, Any], etag: str | None) -> str:
    """The optimistic-concurrency write of a read-decide-write store: create the entity (``etag`` None: it must not
    exist yet) or replace it only if unchanged since it was read; returns the new ETag. Another writer's entity, or
    a changed one (409 / 412), raises :class:`WriteConflict`: the caller reads again and decides again."""
    from azure.core import MatchConditions
    from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError
    from azure.data.tables import UpdateMode

    try:
        if etag is None:
            metadata = table.create_entity(entity)
        else:
            metadata = table.update_entity(entity, mode=UpdateMode.REPLACE, etag=etag,
                                           match_condition=MatchConditions.IfNotModified)
    except (ResourceExistsError, ResourceModifiedError) as error:
        raise WriteConflict(str(error)) from error
    except HttpResponseError as error:
        if error.status_code == 412:
            raise WriteConflict(str(error)) from error
        raise
    return metadata["etag"]


def failure_text(error: BaseException, limit: int = 200) -> str:
    """A storage failure in one bounded line for an operator: the error's type and its first line. The SDK's errors
    do not quote the connection string; a key or signature in the text is masked anyway (never print a secret)."""
    first = (str(error).splitlines() or [""])[0][:limit]
    return f"{type(error).__name__}: {_SECRET_PART.sub(lambda match: match.group(1) + '=***', first)}"


def table_client(table: str, ctx: Any = None) -> Any:
    """The process's client for one table (kept in the application context: the SDK client keeps its connections;
    app_context.reset() forgets it)."""
    return _cached_client("table", table, ctx)


def queue_client(queue: str, ctx: Any = None) -> Any:
    """The process's client for one queue. No encode policy: messages go as plain text, which host.json's
    messageEncoding "none" expects."""
    return _cached_client("queue", queue, ctx)


def _cached_client(kind: str, name: str, ctx: Any) -> Any:
    from . import app_context

    ctx = ctx or app_context.current()
    environ = ctx.environ
    key = (kind, name, storage_target(environ))  # SettingsError names the setting when it is missing or malformed
    with ctx.lock:
        clients = ctx.storage_clients
        if key not in clients:
            service = table_service(environ) if kind == "table" else queue_service(environ)
            clients[key] = service.get_table_client(name) if kind == "table" else service.get_queue_client(name)
        return clients[key]
