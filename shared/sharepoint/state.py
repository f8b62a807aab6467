"""What the SharePoint worker remembers, in the table ``sharepointstate``: the delta link of the list (saved
with the table's ETag, so two workers cannot move it backwards), the subscription it created, and each row's
membership progress (which groups are done or failed), from which the last group's outcome marks the row."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from .. import storage
from ..wire import utc_now

TABLE = "sharepointstate"
UPDATE_ATTEMPTS = 8


class StateConflict(Exception):
    """Another worker saved the entity since it was read."""


@dataclass
class MembershipProgress:
    groups: list[str]
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # group id -> reason

    @property
    def complete(self) -> bool:
        return set(self.groups) <= set(self.done) | set(self.failed)


class SharePointState:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    def _ensure_table(self) -> None:
        storage.ensure_table(self.table)

    def _get(self, partition: str, row: str) -> Any:
        self._ensure_table()
        try:
            return self.table.get_entity(partition, row)
        except ResourceNotFoundError:
            return None

    # ---- the delta link -----------------------------------------------------------------------------------------
    def delta_link(self, list_id: str) -> tuple[str | None, str | None]:
        """(the saved link, its ETag) or (None, None) before the first run."""
        entity = self._get("delta", list_id)
        return (entity["Link"], entity.metadata["etag"]) if entity else (None, None)

    def save_delta_link(self, list_id: str, link: str, etag: str | None) -> str:
        """Save with optimistic concurrency; raises StateConflict when another worker saved first."""
        entity = {"PartitionKey": "delta", "RowKey": list_id, "Link": link, "SavedAt": utc_now()}
        try:
            return storage.create_or_replace(self.table, entity, etag)
        except storage.WriteConflict as error:
            raise StateConflict(str(error)) from error

    # ---- the subscription ----------------------------------------------------------------------------------------
    def subscription(self, list_id: str) -> dict[str, Any] | None:
        entity = self._get("subscription", list_id)
        return dict(entity) if entity else None

    def save_subscription(self, list_id: str, subscription: dict[str, Any]) -> None:
        self._ensure_table()
        self.table.upsert_entity({"PartitionKey": "subscription", "RowKey": list_id, "Id": subscription["id"],
                                  "ExpirationDateTime": subscription["expirationDateTime"],
                                  "NotificationUrl": subscription["notificationUrl"], "SavedAt": utc_now()})

    # ---- membership progress per row ------------------------------------------------------------------------------
    def start_progress(self, list_id: str, item_id: str, groups: list[str]) -> None:
        self._ensure_table()
        self.table.upsert_entity({"PartitionKey": f"progress-{list_id}", "RowKey": item_id,
                                  "Groups": json.dumps(groups), "Done": "[]", "Failed": "{}"})

    def record_membership(self, list_id: str, item_id: str, group_id: str,
                          reason: str | None) -> MembershipProgress | None:
        """Mark one group done (reason None) or failed; the row's progress after it, or None if unknown."""
        for _ in range(UPDATE_ATTEMPTS):
            entity = self._get(f"progress-{list_id}", item_id)
            if entity is None:
                return None
            progress = MembershipProgress(json.loads(entity["Groups"]), json.loads(entity["Done"]),
                                          json.loads(entity["Failed"]))
            if reason is None:  # the latest outcome of a group counts (a redelivery may succeed after a failure)
                progress.failed.pop(group_id, None)
                if group_id not in progress.done:
                    progress.done.append(group_id)
            else:
                progress.failed[group_id] = reason
            entity["Done"], entity["Failed"] = json.dumps(progress.done), json.dumps(progress.failed)
            try:
                self.table.update_entity(entity, mode=UpdateMode.REPLACE, etag=entity.metadata["etag"],
                                         match_condition=MatchConditions.IfNotModified)
            except ResourceModifiedError:
                continue  # a membership of another group of the same row finished at the same time
            except HttpResponseError as error:
                if error.status_code != 412:
                    raise
                continue
            return progress
        raise StateConflict(f"progress of item {item_id} kept changing")


