"""Grants: the group memberships this app added with an end date, in the table ``guestgrants`` (docs/lifecycle.md).

One entity per (user, group): PartitionKey = the user's object id, RowKey = the group's id (keys never hold an
email address). Each guest the app has granted access to also has one entity with RowKey ``guest`` (whether this app
invited them, when their last grant ended, whether they were offboarded).

A grant's states:
- ``pending``: written before the membership worker's POST; the timer never touches it. It becomes ``active`` when
  the POST answers 204, or answers "already a member" while the membership is known to be ours (an earlier
  delivery of the same request posted, or the grant was ours before). Otherwise the membership predates the request
  (someone else added the person) and the pending grant is deleted: a member added by someone else is never
  removed.
- ``active``: the timer removes the membership once ``Until`` has passed; a new request extends ``Until`` (never
  shortens it).
- ``removing``: claimed by the timer or a revoke (with the entity's ETag) before the Graph DELETE.
- ``ended``: removed (``EndReason`` expired or revoked, ``EndedAt``); kept as the record.

Every write uses the entity's ETag, so the timer, revokes and membership workers never undo each other's work.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient

from . import storage
from .grant_events import add_status_recorder, record_status, remove_status_recorder
from .wire import parse_utc, utc_text

__all__ = ["Grant", "GrantConflict", "GrantStore", "GuestRecord", "add_status_recorder", "grant_store", "later",
           "record_status", "remove_status_recorder"]

TABLE = "guestgrants"
GUEST_ROW = "guest"
MAX_REQUEST_IDS = 20  # the request ids that asked for this grant, newest last; bounded
PENDING, ACTIVE, REMOVING, ENDED = "pending", "active", "removing", "ended"


class GrantConflict(Exception):
    """Another worker changed the grant since it was read."""


@dataclass
class Grant:
    user_id: str
    group_id: str
    until: dt.datetime
    state: str = PENDING
    request_id: str | None = None
    request_ids: list[str] = field(default_factory=list)
    source: str | None = None  # who asked: the door ("http", "queue", "sharepoint", "bulk", "cli")
    email: str | None = None
    attempt: int = 1  # the delivery that wrote it pending
    ours: bool = False  # the membership was added by this app (set once it was ever active)
    invited_by_app: bool = False
    reminded_for: str | None = None  # the Until a reminder was sent for (a renewal sends a new one)
    source_ref: dict[str, str] | None = None  # the producer's object (a SharePoint row: siteId, listId, itemId)
    created_at: str | None = None
    ended_at: str | None = None
    end_reason: str | None = None
    etag: str | None = None

    @property
    def until_text(self) -> str:
        return utc_text(self.until)

    def to_entity(self) -> dict[str, Any]:
        return {"PartitionKey": self.user_id, "RowKey": self.group_id, "Until": self.until_text, "State": self.state,
                "RequestId": self.request_id or "", "RequestIds": json.dumps(self.request_ids[-MAX_REQUEST_IDS:]),
                "Source": self.source or "", "Email": self.email or "", "Attempt": self.attempt, "Ours": self.ours,
                "InvitedByApp": self.invited_by_app, "RemindedFor": self.reminded_for or "",
                "CreatedAt": self.created_at or "", "EndedAt": self.ended_at or "", "EndReason": self.end_reason or "",
                "SourceRef": json.dumps(self.source_ref) if self.source_ref else ""}

    @classmethod
    def from_entity(cls, entity: Any) -> Grant:
        until = parse_utc(entity.get("Until")) or dt.datetime.fromtimestamp(0, dt.UTC)
        try:
            request_ids = list(json.loads(entity.get("RequestIds") or "[]"))
        except ValueError:
            request_ids = []
        try:
            source_ref = json.loads(entity.get("SourceRef") or "null")
        except ValueError:
            source_ref = None
        return cls(entity["PartitionKey"], entity["RowKey"], until, entity.get("State") or PENDING,
                   entity.get("RequestId") or None, request_ids, entity.get("Source") or None,
                   entity.get("Email") or None, int(entity.get("Attempt") or 1), bool(entity.get("Ours")),
                   bool(entity.get("InvitedByApp")), entity.get("RemindedFor") or None,
                   source_ref if isinstance(source_ref, dict) else None, entity.get("CreatedAt") or None,
                   entity.get("EndedAt") or None, entity.get("EndReason") or None,
                   entity.metadata.get("etag") if hasattr(entity, "metadata") else None)

    def to_dict(self) -> dict[str, Any]:
        """What operators see (cli.py grants list --json, the status resource)."""
        return {"userId": self.user_id, "groupId": self.group_id, "until": self.until_text, "state": self.state,
                "requestId": self.request_id, "source": self.source, "remindedFor": self.reminded_for,
                "endedAt": self.ended_at, "endReason": self.end_reason}


@dataclass
class GuestRecord:
    user_id: str
    invited_by_app: bool = False
    last_ended_at: str | None = None
    offboarded_at: str | None = None
    offboard_action: str | None = None
    etag: str | None = None


class GrantStore:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    def ensure_table(self) -> None:
        storage.ensure_table(self.table)

    # ---- reading ----------------------------------------------------------------------------------------------
    def get(self, user_id: str, group_id: str) -> Grant | None:
        self.ensure_table()
        try:
            return Grant.from_entity(self.table.get_entity(user_id, group_id))
        except ResourceNotFoundError:
            return None

    def all(self, query: str | None = None, parameters: dict[str, Any] | None = None) -> Iterator[Grant]:
        """Every grant (``query``: an OData filter on the grant entities)."""
        self.ensure_table()
        base = f"RowKey ne '{GUEST_ROW}'"
        entities = self.table.query_entities(f"{base} and ( {query} )", parameters=parameters) if query \
            else self.table.query_entities(base)
        for entity in entities:
            yield Grant.from_entity(entity)

    def due(self, before: dt.datetime) -> list[Grant]:
        """Active grants ending at or before ``before``, and every grant left ``removing`` (a run that stopped)."""
        return list(self.all("( State eq 'active' and Until le @before ) or State eq 'removing'",
                             {"before": utc_text(before)}))

    def for_request(self, request_id: str) -> list[Grant]:
        """The grants a request asked for or renewed (for revoke and the status resource: each group's ``until``).
        A scan: the request ids live in a property, and a renewal moves the newest one."""
        return [grant for grant in self.all() if request_id == grant.request_id or request_id in grant.request_ids]

    def of_user(self, user_id: str) -> list[Grant]:
        self.ensure_table()
        entities = self.table.query_entities("PartitionKey eq @user and RowKey ne @guest",
                                             parameters={"user": user_id, "guest": GUEST_ROW})
        return [Grant.from_entity(entity) for entity in entities]

    # ---- writing (each with the ETag read: GrantConflict when someone else wrote first) --------------------------
    def save(self, grant: Grant) -> Grant:
        self.ensure_table()
        grant.etag = self._write(grant.to_entity(), grant.etag, f"grant {grant.user_id}/{grant.group_id}")
        return grant

    def _write(self, entity: dict[str, Any], etag: str | None, what: str) -> str:
        """Create the entity (no ``etag``: it must not exist yet) or replace it only if unchanged since read; the new
        ETag. Anyone else's write in between is a GrantConflict: the caller reads again and decides again."""
        try:
            return storage.create_or_replace(self.table, entity, etag)
        except (storage.WriteConflict, ResourceNotFoundError) as error:  # deleted since read: changed too
            raise GrantConflict(f"{what} changed meanwhile") from error

    def delete(self, grant: Grant) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.table.delete_entity(grant.user_id, grant.group_id, etag=grant.etag,
                                     match_condition=MatchConditions.IfNotModified)

    def update(self, user_id: str, group_id: str, change: Callable[[Grant | None], Grant | None],
               attempts: int = 8) -> Grant | None:
        """Read, change, save with the ETag; on a conflict read again and reapply ``change`` (None: leave as is)."""
        for _ in range(attempts):
            changed = change(self.get(user_id, group_id))
            if changed is None:
                return None
            try:
                return self.save(changed)
            except GrantConflict:
                continue
        raise GrantConflict(f"grant {user_id}/{group_id} kept changing")

    # ---- the guest record (offboarding) ------------------------------------------------------------------------
    def guest(self, user_id: str) -> GuestRecord | None:
        self.ensure_table()
        try:
            entity = self.table.get_entity(user_id, GUEST_ROW)
        except ResourceNotFoundError:
            return None
        return _guest(entity)

    def guests(self) -> list[GuestRecord]:
        self.ensure_table()
        return [_guest(entity) for entity in self.table.query_entities(f"RowKey eq '{GUEST_ROW}'")]

    def save_guest(self, record: GuestRecord) -> GuestRecord:
        self.ensure_table()
        entity = {"PartitionKey": record.user_id, "RowKey": GUEST_ROW, "InvitedByApp": record.invited_by_app,
                  "LastEndedAt": record.last_ended_at or "", "OffboardedAt": record.offboarded_at or "",
                  "OffboardAction": record.offboard_action or ""}
        record.etag = self._write(entity, record.etag, f"guest record {record.user_id}")
        return record

    def update_guest(self, user_id: str, change: Callable[[GuestRecord], GuestRecord | None]) -> None:
        for _ in range(8):
            changed = change(self.guest(user_id) or GuestRecord(user_id))
            if changed is None:
                return
            try:
                self.save_guest(changed)
                return
            except GrantConflict:
                continue
        raise GrantConflict(f"guest record {user_id} kept changing")


def _guest(entity: Any) -> GuestRecord:
    return GuestRecord(entity["PartitionKey"], bool(entity.get("InvitedByApp")), entity.get("LastEndedAt") or None,
                       entity.get("OffboardedAt") or None, entity.get("OffboardAction") or None,
                       entity.metadata.get("etag"))


def grant_store() -> GrantStore:
    """The store in the app's storage account (AzureWebJobsStorage, as the host reads it)."""
    from .sharepoint.storage import table_client  # the one per-process cache of storage clients

    return GrantStore(table_client(TABLE))


def later(first: dt.datetime, second: dt.datetime) -> dt.datetime:
    return max(first, second)
