"""The status records of a bulk run's rows (issue 14): each accepted row gets the record every other door's request
gets (shared.status, table ``invitationstatus``; source ``bulk``), keyed by the row's ``requestId`` (the results
file's column), so ``cli.py status ID`` and ``GET /api/invitations/{requestId}`` tell a bulk row's groups as they
tell any request's.

The bulk adds memberships itself (membership_batches.py), not through the queue, so the run writes the record
itself: ``accepted`` once the row's person is found or invited (each group ``queued``, or already settled for a
resumed row), then one update per group as its add finishes (``added``, ``already_member``, or ``failed`` with the
problem: type, status, code, Graph's request-id, message).

Storage is optional: the account is the app's own (``AzureWebJobsStorage`` from the environment, in either form,
as ``cli.py status`` and ``cli.py poison`` reach it). Without it, or when it fails, the bulk goes on with Graph only
and says so once; the results file stays the complete record of the run.

Cost: one storage request per row for its acceptance (one entity-group transaction) plus one per group, plus one
Create Table per run, each counted (:attr:`RowStatus.requests`, every HTTP request the storage client sends, its own
retries included). The writes never hold up the run: they go to a few writer threads, a row always to the same one
(by its request id), so a row's acceptance is written before its groups' updates, as the worker's rule has it.
"""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from shared import status
from shared.settings import SettingsError
from shared.storage import STORAGE_SETTING, ensure_table, failure_text, storage_target, table_service

WRITERS = 4
_STOP = object()


class RowStatus:
    """Writes the rows' records in the background; :meth:`close` waits for every write."""

    def __init__(self, store: status.StatusStore | None = None, *, writers: int = WRITERS) -> None:
        self.store: status.StatusStore | None = None
        self.requests = 0  # HTTP requests sent to storage (counted by the client's response hook)
        self.rows = 0  # rows whose acceptance was written
        self.failed_writes = 0  # writes that failed (the first disables the rest: skipped)
        self.skipped_writes = 0
        self.failure = ""  # the first failure, for the summary
        self._lock = threading.Lock()
        self._queues: list[queue.SimpleQueue[Any]] = []
        self._threads: list[threading.Thread] = []
        if store is not None:
            self._start(store, writers)

    def _start(self, store: status.StatusStore, writers: int = WRITERS) -> None:
        self.store = store
        for number in range(max(1, writers)):
            inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
            thread = threading.Thread(target=self._writer, args=(inbox,), name=f"status-{number}", daemon=True)
            self._queues.append(inbox)
            self._threads.append(thread)
            thread.start()

    @property
    def enabled(self) -> bool:
        return self.store is not None

    @classmethod
    def connect(cls, environ: Mapping[str, str], err: TextIO, *, demo: bool = False) -> RowStatus:
        """The records in the app's storage account, or none (said once on ``err``) when there is none, it fails,
        or the run is on the demo tenant (nothing real is touched)."""
        if demo:
            err.write("Status records: none on the demo tenant (nothing real is touched).\n")
            return cls()
        records = cls()
        try:
            storage_target(environ)  # SettingsError when the setting is absent or malformed
            service = table_service(environ, raw_response_hook=lambda _response: records._count())
            store = status.StatusStore(service.get_table_client(status.TABLE))
            ensure_table(store.table)  # once, now: a wrong or unreachable account is said before anything is sent
        except SettingsError:
            err.write(f"Status records: none ({STORAGE_SETTING} is not set): the rows get no `cli.py status` "
                      "record; the results file is the record of this run.\n")
            return records
        except Exception as error:  # the storage SDK's errors, or a malformed connection string
            err.write(f"Status records: none (the storage account failed: {failure_text(error)}); the results "
                      "file is the record of this run.\n")
            return records
        records._start(store)
        return records

    def _count(self) -> None:
        with self._lock:
            self.requests += 1

    def may_keep(self, request_id: str, email: str) -> bool:
        """Whether a resumed row may go on with the request id its results file names. The file is not trusted
        (anyone who can write it could plant another request's id): the id is kept only when no record has it, or
        its record is a bulk row's for the same address. One read, for resumed rows only."""
        if self.store is None:
            return True
        try:
            record = self.store.read(request_id)
        except Exception:  # storage failing: a new id is safe, a kept one could not be checked
            return False
        return record is None or (record.source == "bulk" and (record.email or "").casefold() == email.casefold())

    # ---- what the run tells ------------------------------------------------------------------------------------
    def accepted(self, request_id: str, *, email: str, user_id: str, invited: bool, group_ids: list[str],
                 until: str | None = None, settled: Mapping[str, str] | None = None) -> None:
        """The row's person is found or invited: its record, each group queued (or as ``settled`` says, in the
        results file's words, for groups an earlier run of the row added)."""
        states = status.CLI_STATES
        done = {group: states[state] for group, state in (settled or {}).items() if state in states}

        def write(store: status.StatusStore) -> None:
            store.accepted(request_id, email=email, user_id=user_id, invited=invited, source="bulk",
                           group_ids=group_ids, until=until, settled=done)
            with self._lock:
                self.rows += 1

        self._submit(request_id, write)

    def group(self, request_id: str, group_id: str, state: str, attempts: int,
              problem: dict[str, Any] | None = None) -> None:
        """One group's add finished (``state`` in the results file's words)."""
        final = status.CLI_STATES.get(state, status.FAILED)
        self._submit(request_id, lambda store: store.group(request_id, group_id, final, attempts,
                                                          problem=problem if final == status.FAILED else None))

    def close(self) -> None:
        """Wait for every write asked so far."""
        for inbox in self._queues:
            inbox.put(_STOP)
        for thread in self._threads:
            while thread.is_alive():
                thread.join(timeout=0.5)  # short joins keep the main thread responsive to Ctrl-C
        self._queues, self._threads = [], []

    def summary(self) -> str:
        """One line for the run's summary."""
        if not self.enabled:
            return ""
        text = (f"Status records: {self.rows} rows recorded (source bulk); {self.requests} storage requests "
                f"({self.requests / max(1, self.rows):.2f} per recorded row).")
        if self.failed_writes or self.skipped_writes:
            text += (f" {self.failed_writes + self.skipped_writes} writes not done after the storage account failed "
                     f"({self.failure}): `cli.py status` may show those rows' groups still queued; the results file "
                     "is complete.")
        return text

    # ---- the writers -------------------------------------------------------------------------------------------
    def _submit(self, request_id: str, write: Callable[[status.StatusStore], None]) -> None:
        if not self._queues:
            return
        # One request id, one writer: its writes keep their order (the acceptance before the groups' updates).
        self._queues[zlib.crc32(request_id.encode("utf-8")) % len(self._queues)].put(write)

    def _writer(self, inbox: queue.SimpleQueue[Any]) -> None:
        while True:
            write = inbox.get()
            if write is _STOP:
                return
            with self._lock:
                failing = bool(self.failure)
            if failing:
                # After the SDK's own retries gave up once, each further write would wait out the same retries:
                # the run goes on without records rather than slowing down.
                with self._lock:
                    self.skipped_writes += 1
                continue
            try:
                write(self.store)
            except Exception as error:  # storage failed: the run goes on (Graph only); the summary says so
                with self._lock:
                    self.failed_writes += 1
                    self.failure = self.failure or failure_text(error)
