"""An invitation's status record (issue 14): what happened to each accepted request, keyed by its ``requestId``, in
the table ``invitationstatus`` of the app's storage account (Azurite locally; infra/main.bicep creates it).

Layout: one partition per request. Its ``request`` entity is written once when a door accepts the request (email,
userId, invited, source door, createdAt); each group has its own entity (RowKey ``group-<groupId>``: status,
attempts, timestamps, the problem), so the membership worker's concurrent updates of different groups never touch
the same entity, and each state change is ONE merge upsert (queued, waiting again, added, already_member, failed).
The acceptance writes the request and every group (``queued``) in one entity-group transaction (at most 21 entities,
one partition). Reading a record is one partition query.

Every write stamps ``expiresAt`` (the write time + :data:`RETENTION_DAYS`); the daily timer ``sweep_invitation_status``
deletes the whole partition of a request once any of its entities has expired, i.e. RETENTION_DAYS after the
request's last change at the earliest. The partition ``~keys`` (never a requestId: REQUEST_ID_PATTERN has no ``~``)
holds the key that signs status links (shared.status_links); the sweep leaves it alone.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import app_context, storage
from .app_context import AppContext
from .wire import parse_utc, utc_text

if TYPE_CHECKING:  # the table SDK is imported on first use, not when the app starts (tests/soak cold start)
    from azure.data.tables import TableClient

TABLE = "invitationstatus"
RETENTION_DAYS = 30
HEAD = "request"
GROUP_PREFIX = "group-"
KEYS_PARTITION = "~keys"
LAG_PARTITION = "~lag"  # the learned first delay all instances share (shared.lag.TableDelay); no expiresAt: kept
LINK_KEY_ROW = "status-links"
MAX_TEXT = 500  # Graph's messages are short; anything stored from an answer is bounded

QUEUED, ADDED, ALREADY_MEMBER, FAILED = "queued", "added", "already_member", "failed"
FINAL = frozenset({ADDED, ALREADY_MEMBER, FAILED})
# The command line's words for how a group ended (`cli.py invite`'s output and --json, a bulk results file) -> the
# record's.
CLI_STATES = {"added": ADDED, "already-member": ALREADY_MEMBER, "failed": FAILED}



@dataclass
class GroupStatus:
    group_id: str
    status: str
    attempts: int = 0
    updated_at: str | None = None
    next_attempt_at: str | None = None  # while queued after a wait: when the next try is due
    waiting_for: str | None = None  # the problem kind that made it wait (replication-lag, graph-throttled…)
    problem: dict[str, Any] | None = None  # failed: type, status, code, graphRequestId, message
    until: str | None = None  # the end of the group access (a grant: docs/lifecycle.md), renewed by later requests
    access_ended_at: str | None = None  # when the expiry or a revoke removed the membership
    access_end_reason: str | None = None  # "expired" or "revoked"

    def to_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"groupId": self.group_id, "status": self.status, "attempts": self.attempts,
                                  "updatedAt": self.updated_at}
        if self.status == QUEUED and self.next_attempt_at:
            answer["nextAttemptAt"] = self.next_attempt_at
            answer["waitingFor"] = self.waiting_for
        if self.problem:
            answer["problem"] = self.problem
        if self.until:
            answer["until"] = self.until
        if self.access_ended_at:
            answer["accessEnded"] = {"at": self.access_ended_at, "reason": self.access_end_reason}
        return answer


@dataclass
class StatusRecord:
    request_id: str
    email: str | None = None
    user_id: str | None = None
    invited: bool | None = None
    source: str | None = None
    created_at: str | None = None
    groups: list[GroupStatus] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        return any(group.status not in FINAL for group in self.groups)

    @property
    def status(self) -> str:
        """pending while a group is queued; failed when a group failed; else succeeded."""
        if self.pending:
            return "pending"
        return "failed" if any(group.status == FAILED for group in self.groups) else "succeeded"

    def next_attempt(self) -> dt.datetime | None:
        """The soonest time a pending group is due to be tried again, if any is waiting."""
        times = [parse_utc(group.next_attempt_at) for group in self.groups if group.status not in FINAL]
        known = [moment for moment in times if moment is not None]
        return min(known) if known else None

    def to_dict(self) -> dict[str, Any]:
        return {"requestId": self.request_id, "status": self.status, "email": self.email, "userId": self.user_id,
                "invited": self.invited, "source": self.source, "createdAt": self.created_at,
                "groups": [group.to_dict() for group in self.groups]}


class StatusStore:
    """The table's reads and writes; raises the storage SDK's errors (the failure policy judges them)."""

    def __init__(self, table: TableClient, now: Any = None) -> None:
        self.table = table
        self._now = now or (lambda: dt.datetime.now(dt.UTC))

    def _ensure_table(self) -> None:
        storage.ensure_table(self.table)

    def _stamp(self) -> tuple[str, dt.datetime]:
        now = self._now()
        return utc_text(now), now + dt.timedelta(days=RETENTION_DAYS)

    def accepted(self, request_id: str, *, email: str | None, user_id: str | None, invited: bool | None,
                 source: str, group_ids: Iterable[str], until: str | None = None,
                 settled: Mapping[str, str] | None = None) -> None:
        """A door accepted the request: its entity and each group ``queued``, in one transaction. ``settled``: the
        groups already done with their final status (a resumed bulk row whose earlier run added them)."""
        from azure.data.tables import UpdateMode

        self._ensure_table()
        now, expires = self._stamp()
        head = {"PartitionKey": request_id, "RowKey": HEAD, "email": email, "userId": user_id, "invited": invited,
                "source": source, "createdAt": now, "expiresAt": expires}
        operations: list[Any] = [("upsert", head, {"mode": UpdateMode.MERGE})]
        done = {group.lower(): state for group, state in (settled or {}).items()}
        for group_id in dict.fromkeys(group.lower() for group in group_ids):
            entity = {"PartitionKey": request_id, "RowKey": GROUP_PREFIX + group_id, "groupId": group_id,
                      "status": done.get(group_id, QUEUED), "attempts": 0, "updatedAt": now, "expiresAt": expires}
            if until:
                entity["until"] = until
            operations.append(("upsert", entity, {"mode": UpdateMode.MERGE}))
        self.table.submit_transaction(operations)

    def group(self, request_id: str, group_id: str, status: str, attempts: int, *,
              problem: dict[str, Any] | None = None, next_attempt_at: str | None = None,
              waiting_for: str | None = None) -> None:
        """One group's state change: one merge upsert of its own entity."""
        from azure.data.tables import UpdateMode

        self._ensure_table()
        now, expires = self._stamp()
        entity: dict[str, Any] = {"PartitionKey": request_id, "RowKey": GROUP_PREFIX + group_id.lower(),
                                  "groupId": group_id.lower(), "status": status, "attempts": attempts,
                                  "updatedAt": now, "expiresAt": expires, "nextAttemptAt": next_attempt_at,
                                  "waitingFor": waiting_for}
        problem = problem or {}
        for name in ("type", "status", "code", "graphRequestId", "message"):
            value = problem.get(name)
            entity["problem" + name[0].upper() + name[1:]] = value[:MAX_TEXT] if isinstance(value, str) else value
        self.table.upsert_entity(entity, mode=UpdateMode.MERGE)

    def access(self, request_id: str, group_id: str, *, until: str | None = None, ended_at: str | None = None,
               end_reason: str | None = None) -> bool:
        """A grant event on a group of a recorded request (a renewal's ``until``, or the access ended): one merge of
        the group's entity. A request with no record (a CLI or bulk grant, or one swept) is left alone: False."""
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        self._ensure_table()
        _, expires = self._stamp()
        entity: dict[str, Any] = {"PartitionKey": request_id, "RowKey": GROUP_PREFIX + group_id.lower(),
                                  "expiresAt": expires}
        if until:
            entity["until"] = until
        if ended_at:
            entity |= {"accessEndedAt": ended_at, "accessEndReason": end_reason}
        try:
            self.table.update_entity(entity, mode=UpdateMode.MERGE)
        except ResourceNotFoundError:
            return False
        return True

    def read(self, request_id: str) -> StatusRecord | None:
        """The record, or None when nothing is stored for this id."""
        self._ensure_table()
        entities = list(self.table.query_entities("PartitionKey eq @id", parameters={"id": request_id}))
        if not entities:
            return None
        record = StatusRecord(request_id)
        for entity in entities:
            if entity["RowKey"] == HEAD:
                record.email, record.user_id = entity.get("email"), entity.get("userId")
                record.invited, record.source = entity.get("invited"), entity.get("source")
                record.created_at = entity.get("createdAt")
            elif entity["RowKey"].startswith(GROUP_PREFIX):
                record.groups.append(_group(entity))
        record.groups.sort(key=lambda group: group.group_id)
        return record

    def sweep(self, now: dt.datetime | None = None) -> int:
        """Delete every request with an expired entity, whole; returns how many entities were deleted."""
        from azure.core.exceptions import ResourceNotFoundError

        self._ensure_table()
        moment = now or self._now()
        expired = self.table.query_entities("expiresAt lt @now", parameters={"now": moment},
                                            select=["PartitionKey"])
        partitions = {entity["PartitionKey"] for entity in expired} - {KEYS_PARTITION}
        deleted = 0
        for partition in sorted(partitions):
            for entity in self.table.query_entities("PartitionKey eq @id", parameters={"id": partition},
                                                    select=["PartitionKey", "RowKey"]):
                with contextlib.suppress(ResourceNotFoundError):  # another sweep got there first
                    self.table.delete_entity(partition, entity["RowKey"])
                    deleted += 1
        return deleted

    def link_key(self) -> bytes:
        """The key that signs status links: generated once (32 random bytes) and kept in this table, so every
        instance of the app signs and checks with the same key and no app setting holds it. Deleting the entity
        rotates it (links already given out stop working)."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        self._ensure_table()
        try:
            return base64.b64decode(self.table.get_entity(KEYS_PARTITION, LINK_KEY_ROW)["key"])
        except ResourceNotFoundError:
            pass
        key = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        try:
            self.table.create_entity({"PartitionKey": KEYS_PARTITION, "RowKey": LINK_KEY_ROW, "key": key})
        except ResourceExistsError:  # another instance created it first: use theirs
            return base64.b64decode(self.table.get_entity(KEYS_PARTITION, LINK_KEY_ROW)["key"])
        return base64.b64decode(key)


def _group(entity: Any) -> GroupStatus:
    problem = None
    if entity.get("problemType") or entity.get("problemCode"):
        problem = {"type": entity.get("problemType"), "status": entity.get("problemStatus"),
                   "code": entity.get("problemCode"), "graphRequestId": entity.get("problemGraphRequestId"),
                   "message": entity.get("problemMessage")}
    return GroupStatus(entity.get("groupId") or entity["RowKey"][len(GROUP_PREFIX):], entity.get("status") or QUEUED,
                       int(entity.get("attempts") or 0), entity.get("updatedAt"), entity.get("nextAttemptAt"),
                       entity.get("waitingFor"), problem, entity.get("until"), entity.get("accessEndedAt"),
                       entity.get("accessEndReason"))


def record_problem(error: Mapping[str, Any]) -> dict[str, Any]:
    """A failed group's ``problem`` as the record keeps it (type, status, code, graphRequestId, message), from a
    failure's ``error`` in the poison message's shape (shared.membership.membership_error): the problem's type is the
    error's ``problem``; a field the error lacks is None."""
    return {"type": error.get("problem"), "status": error.get("status"), "code": error.get("code"),
            "graphRequestId": error.get("graphRequestId"), "message": error.get("message")}


def failure_problem(verdict: Any, failure: BaseException) -> dict[str, Any]:
    """The record's ``problem`` for a group the failure policy gave up on (``verdict``: shared.failures.Verdict with
    its problem; ``failure``: what was raised): what the membership worker records for the same failure, whichever
    door (the worker, the bulk, ``cli.py invite``) added the group."""
    from .membership import membership_error  # on use: shared.membership imports this module on use too

    return record_problem(membership_error(verdict, failure))


def store(ctx: AppContext | None = None) -> StatusStore:
    """The status store of the process's storage account (AzureWebJobsStorage)."""
    return StatusStore(storage.table_client(TABLE, ctx or app_context.current()))


def record_admitted(ctx: AppContext, admitted: Any, source: str) -> None:
    """Write an accepted request's record (``admitted``: shared.intake.Admitted; ``source``: the door, "http",
    "queue", "sharepoint", "cli" (`cli.py invite`, guest_cli.invite_record); a bulk row's, source "bulk", is written by
    guest_cli.bulk.status_records). Every door that admits a request calls this before its membership messages are
    written (the CLI before its adds), so the record exists before any group's update."""
    until = utc_text(admitted.until) if getattr(admitted, "until", None) is not None else None
    store(ctx).accepted(admitted.request_id, email=admitted.request.email, user_id=admitted.person.user_id,
                        invited=admitted.person.invited, source=source, group_ids=admitted.request.group_ids,
                        until=until)


# The doors whose requests have a status record (a bulk row's or a `cli.py invite`'s when it ran with the app's
# storage; without it, StatusStore.access finds no record and leaves it alone).
_RECORDED_SOURCES = frozenset({"http", "queue", "sharepoint", "bulk", "cli"})


def record_grant_event(event: str, grant: Any) -> None:
    """A grant event (shared.grant_events; ``grant``: shared.grants.Grant) into the request's status record: a
    renewal moves the group's ``until``, an expiry or revoke marks its access ended. Registered by function_app.py."""
    if grant.source not in _RECORDED_SOURCES or not grant.request_id:
        return
    if event in ("granted", "extended"):
        store().access(grant.request_id, grant.group_id, until=grant.until_text)
    elif event in ("expired", "revoked"):
        store().access(grant.request_id, grant.group_id, ended_at=grant.ended_at or utc_text(dt.datetime.now(dt.UTC)),
                       end_reason=event)
