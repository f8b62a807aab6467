"""One invitation per address when callers race, across instances: the claim table ``inviteclaims``.

Flex Consumption instances share nothing but the storage account, so the claim lives there (Table storage in
``AzureWebJobsStorage``; Azurite locally). The invitation flow (shared.onboarding) asks for a claim only when the
lookup found no user, and every door reaches the flow through the one intake pipeline, so every door is covered.

- **Key**: PartitionKey = SHA-256 of the case-folded normal address (never the address: no PII in a key), RowKey
  fixed. The entity holds no address either: its state, expiry, the holder's request id and, once known, the
  userId Graph answered.
- **Holder** (the uncontended path): ``create_entity`` (fails if the claim exists) is the ONE storage round trip
  before the POST; after the invitation, the outcome is recorded with an ETag-guarded update (a second round trip,
  after Graph answered). A failure known not to have invited anyone deletes the claim (ETag-guarded) so racers
  need not wait for the expiry; an ambiguous one (the POST's answer was lost, and the lookups after it did not
  find the guest: shared.onboarding) leaves it to expire, and tells the caller how long that is (Retry-After).
- **Racer** (insert refused): reads the claim. An outcome recorded -> the same answer as for an existing user (no
  POST). A live claim -> polls with backoff for at most :data:`WAIT_SECONDS`, then a transient verdict (the
  ``invitation-in-progress`` problem: HTTP 503 + Retry-After, a queue redelivery, a row given back). An expired
  claim (its holder crashed) -> taken over with an ETag-guarded update, the lookup run again (the crashed holder
  may have invited), then the invitation.
- **Expiry**: ``INVITE_CLAIM_SECONDS`` (default 180 s, see docs/api.md). It must exceed the longest a holder can
  take from its claim to Graph's answer: the longest flow budget of any door (bulk rows: 120 s; HTTP 40 s, queue
  30 s, SharePoint rows 60 s) plus one last request's timeouts past the budget (connect 5 s, up to 3 connects,
  and a read timeout never past the budget but at least 1 s): ~140 s. Clocks of Azure instances are NTP-synced
  (skew well under a second), covered by the margin.
- **Storage outage**: fail closed. A failed insert or read is the failure policy's ``storage-unavailable`` (503,
  retry later): nothing is doubled and nothing lost (each door retries), and it blocks invitations only while
  storage is down, which also stops the host's own queues and leases. Recording the outcome or releasing the claim
  failing is only logged: the claim then expires and the next taker looks the person up first.
- **No storage setting at all** (only the command line can run so: the Functions host needs
  ``AzureWebJobsStorage``): no claim, with a warning, since nothing else could be coordinated with.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .graph import GraphError
from .logging_setup import log_event
from .problems import invitation_in_progress
from .storage import STORAGE_SETTING, table_service

TABLE = "inviteclaims"
ROW_KEY = "invitation"
DEFAULT_EXPIRY_SECONDS = 180  # > the longest holder: bulk's 120 s row budget + one request's timeouts (above)
# How long a recorded userId answers racers and requests whose lookup misses a guest Graph has not replicated yet.
# Short, because it is trusted without a lookup: a guest deleted within it and asked for again would get it back.
OUTCOME_SECONDS = 300
WAIT_SECONDS = 10.0  # a racer's wait for the holder's outcome; well inside the HTTP budget (40 s)
WAIT_MARGIN_SECONDS = 5.0  # what a racer keeps of its budget after waiting (to answer)
POLL_FIRST, POLL_MAX = 0.1, 1.0  # backoff between reads of a live claim
PENDING, DONE = "pending", "done"
# The claim client fails fast: a racer or holder must answer within its door's budget (the SDK default retries ten
# times with long waits). Fewer retries never double anything: a failed insert is a 503, and the caller retries.
CLIENT_OPTIONS = {"retry_total": 2, "retry_backoff_factor": 0.5, "connection_timeout": 5, "read_timeout": 10}

if TYPE_CHECKING:  # the SDKs are imported when a claim is first taken: importing the app stays light
    from azure.data.tables import TableClient

Lookup = Callable[[], "dict | None"]
Invite = Callable[[], "tuple[dict | None, dict]"]


def claim_key(email: str) -> str:
    """The PartitionKey of an address: its SHA-256 (hex), so the table never holds the address. Case-folded: Graph
    matches addresses case-insensitively, so ``A@x.com`` and ``a@x.com`` are one person."""
    return hashlib.sha256(f"inviteclaim:v1:{email.casefold()}".encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    """A claim this request holds (the ETag guards its update)."""

    key: str
    etag: str
    expires_at: dt.datetime  # when another request may take it over (wall clock, UTC)


class ClaimStore:
    """The ``inviteclaims`` table. ``now`` is wall-clock UTC (compared across instances), ``clock``/``sleep`` time a
    racer's wait."""

    def __init__(self, table: TableClient, *, now: Callable[[], dt.datetime] | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.table = table
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self.clock = clock
        self.sleep = sleep

    # ---- the table's operations --------------------------------------------------------------------------------
    def insert(self, key: str, request_id: str, expiry: float) -> Claim | None:
        """The claim, or None when one exists. One request (plus a Create Table the first time on a fresh account:
        infra creates the table, Azurite starts empty)."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        entity = self._pending(key, request_id, expiry)
        for _ in range(2):
            try:
                return Claim(key, self.table.create_entity(entity)["etag"], entity["ExpiresAt"])
            except ResourceExistsError:
                return None
            except ResourceNotFoundError:  # TableNotFound
                with contextlib.suppress(ResourceExistsError):
                    self.table.create_table()
        raise ResourceNotFoundError(f"table {TABLE} could not be created")

    def read(self, key: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.table.get_entity(key, ROW_KEY)
        except ResourceNotFoundError:
            return None

    def take_over(self, entity: Any, request_id: str, expiry: float) -> Claim | None:
        """Replace an expired claim with ours; None when another request changed it first (412)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        key = entity["PartitionKey"]
        ours = self._pending(key, request_id, expiry)
        try:
            metadata = self.table.update_entity(ours, mode=UpdateMode.REPLACE,
                                                etag=entity.metadata["etag"],
                                                match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceNotFoundError):
            return None
        except HttpResponseError as error:
            if error.status_code in (404, 412):
                return None
            raise
        return Claim(key, metadata["etag"], ours["ExpiresAt"])

    def record(self, claim: Claim, user: dict, request_id: str) -> None:
        """The outcome on our claim (ETag-guarded: a claim taken over after our expiry is not ours to write).
        Failures are logged only: the claim then expires and the next taker looks the person up first."""
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError
        from azure.data.tables import UpdateMode

        entity = {"PartitionKey": claim.key, "RowKey": ROW_KEY, "State": DONE, "Holder": request_id[:100],
                  "ExpiresAt": self.now() + dt.timedelta(seconds=OUTCOME_SECONDS), "UserId": user.get("id") or "",
                  "UserType": user.get("userType") or "", "Status": user.get("externalUserState") or "",
                  # when the person was created (the lookup's createdDateTime, or the moment of the holder's
                  # invitation): a joiner's memberships then wait for replication as the holder's do (shared.lag)
                  "CreatedAt": str(user.get("createdDateTime") or "")[:40]}
        try:
            self.table.update_entity(entity, mode=UpdateMode.REPLACE, etag=claim.etag,
                                     match_condition=MatchConditions.IfNotModified)
        except AzureError as error:
            log_event("claim.record_failed", level=logging.WARNING, requestId=request_id,
                      error=_error_text(error))

    def release(self, claim: Claim, request_id: str) -> None:
        """Delete our claim after a failure known not to have invited (racers then try themselves at once)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError

        try:
            self.table.delete_entity(claim.key, ROW_KEY, etag=claim.etag,
                                     match_condition=MatchConditions.IfNotModified)
        except AzureError as error:
            log_event("claim.release_failed", level=logging.WARNING, requestId=request_id,
                      error=_error_text(error))

    def _pending(self, key: str, request_id: str, expiry: float) -> dict[str, Any]:
        return {"PartitionKey": key, "RowKey": ROW_KEY, "State": PENDING, "Holder": request_id[:100],
                "ExpiresAt": self.now() + dt.timedelta(seconds=expiry)}

    def expired(self, entity: Any) -> bool:
        expires = entity.get("ExpiresAt")
        return not isinstance(expires, dt.datetime) or self.now() >= _aware(expires)

    def seconds_left(self, entity: Any) -> float:
        expires = entity.get("ExpiresAt")
        return (_aware(expires) - self.now()).total_seconds() if isinstance(expires, dt.datetime) else 0.0

    # ---- the rule -----------------------------------------------------------------------------------------------
    def once(self, email: str, request_id: str, expiry: float, remaining: Callable[[], float], lookup: Lookup,
             invite: Invite) -> tuple[dict | None, dict]:
        """``invite()`` under the address's claim, or the outcome of the request that holds it: ``(invitation or
        None, user)`` as the flow's ``_invite_once`` answers. Raises the ``invitation-in-progress`` problem when the
        holder has not answered within the wait, and storage errors (the failure policy's storage-unavailable)."""
        key = claim_key(email)
        wait_until = self.clock() + max(0.0, min(WAIT_SECONDS, remaining() - WAIT_MARGIN_SECONDS))
        delay = POLL_FIRST
        entity = None
        while True:
            if entity is not None and self.clock() > wait_until:  # released or taken over again and again
                raise invitation_in_progress(1)
            claim = self.insert(key, request_id, expiry)
            if claim is not None:
                return self._hold(claim, request_id, invite, None)
            entity = self.read(key)
            if entity is None:
                entity = {}  # released between our insert and read: try the insert again
                continue
            if self.expired(entity):  # its holder crashed (or an old outcome): take over, look up first
                claim = self.take_over(entity, request_id, expiry)
                if claim is not None:
                    log_event("claim.taken_over", level=logging.WARNING, requestId=request_id,
                              previousHolder=entity.get("Holder"), previousState=entity.get("State"))
                    return self._hold(claim, request_id, invite, lookup)
                continue
            if entity.get("State") == DONE and entity.get("UserId"):
                log_event("claim.joined", requestId=request_id, holder=entity.get("Holder"),
                          userId=entity["UserId"])
                return None, {"id": entity["UserId"], "userType": entity.get("UserType") or None,
                              "externalUserState": entity.get("Status") or None,
                              "createdDateTime": entity.get("CreatedAt") or None}
            if self.clock() + delay > wait_until:
                log_event("claim.busy", level=logging.WARNING, requestId=request_id, holder=entity.get("Holder"))
                raise invitation_in_progress(max(1, min(30, round(self.seconds_left(entity)))))
            self.sleep(delay)
            delay = min(POLL_MAX, delay * 2)

    def _hold(self, claim: Claim, request_id: str, invite: Invite, lookup: Lookup | None) -> tuple[dict | None, dict]:
        try:
            user = lookup() if lookup is not None else None
            invitation, user = (None, user) if user is not None else invite()
        except Exception as error:
            # A POST whose answer was lost may have invited: keep the claim until it expires, so the next taker
            # looks up first (after Graph's replication caught up) instead of posting again at once; the failure
            # carries how long that is, for the caller's Retry-After (shared.failures).
            if isinstance(error, GraphError) and error.ambiguous:
                error.claim_seconds_left = max(0.0, (claim.expires_at - self.now()).total_seconds())
            else:
                self.release(claim, request_id)
            raise
        self.record(claim, user, request_id)
        return invitation, user


def invite_once(store: ClaimStore | None, email: str, request_id: str, expiry: float, remaining: Callable[[], float],
                lookup: Lookup, invite: Invite) -> tuple[dict | None, dict]:
    """The flow's one entry: under the claim when there is a claim store, else ``invite()`` as it is."""
    if store is None:
        return invite()
    return store.once(email, request_id, expiry, remaining, lookup, invite)


# ---- the store of a process (built from the storage setting, cached in the application context) ----------------
_warned: weakref.WeakSet[Any] = weakref.WeakSet()
_warned_lock = threading.Lock()


def storage_configured(environ: Mapping[str, str]) -> bool:
    """Whether any form of the storage setting is present (its validity is shared.storage's to judge)."""
    prefix = f"{STORAGE_SETTING}__"
    return bool((environ.get(STORAGE_SETTING) or "").strip()) or any(
        name.startswith(prefix) and (value or "").strip() for name, value in environ.items())


def claim_store(ctx: Any) -> ClaimStore | None:
    """The process's claim store, from the context's environment; None (warned once) when no storage is set.
    SettingsError (naming the setting) when it is malformed."""
    from .storage import storage_target

    environ = ctx.environ
    if not storage_configured(environ):
        with _warned_lock:
            if ctx not in _warned:
                _warned.add(ctx)
                log_event("claim.unconfigured", level=logging.WARNING,
                          detail=f"{STORAGE_SETTING} is not set: invitations are not coordinated with other "
                                 "instances or doors (no claim per address)")
        return None
    cache_key = ("claims", TABLE, storage_target(environ))
    with ctx.lock:
        store = ctx.storage_clients.get(cache_key)
        if store is None:
            store = ClaimStore(table_service(environ, **CLIENT_OPTIONS).get_table_client(TABLE))
            ctx.storage_clients[cache_key] = store
        return store


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _error_text(error: BaseException) -> str:
    return (str(error).splitlines() or [""])[0][:300]
