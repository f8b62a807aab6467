"""The results file of a bulk run: one CSV line per row's outcome, appended and flushed as each row finishes, so
a crash or Ctrl-C loses nothing; read back on the next run of the same file to skip what is already done.

Like the portal's downloadable results (entra-docs tutorial-bulk-invite.md: success or failure per row, with the
reason), plus what the portal cannot give: the user id, the redeem URL and each group's outcome.

While a run is going the file is a journal: a row may appear twice (``pending`` once its user exists, then its
final line); the last line for a row wins. A run that finishes rewrites it with one line per row, in file order.
Rows are keyed by line number and address, so an edited file re-runs only the rows that changed; the core's
lookup by email keeps a re-run row from inviting anyone twice, and a ``pending`` line's user id lets a resumed run
go straight to the memberships.

Each row carries the ``requestId`` its run gave it (the key of its status record, shared.status; ``cli.py status
ID``); a resumed row keeps its first one. ``updatedAt`` stays the last column: a line cut short by a crash lacks it
and is ignored, so every cell before it (the request id included) is whole. A results file written before the
``requestId`` column existed (:data:`LEGACY_COLUMNS`) is read as well, and rewritten in the current layout (its rows
then without a request id: they get one when they run again) before anything is appended to it.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from shared.wire import utc_now

COLUMNS = ("line", "email", "status", "invitation", "userId", "inviteRedeemUrl", "groups", "error", "requestId",
           "updatedAt")
# The layout before request ids (issue 14): still read, so a run started by the previous version resumes.
LEGACY_COLUMNS = tuple(column for column in COLUMNS if column != "requestId")
DONE, FAILED, PENDING = "done", "failed", "pending"
INVITED, EXISTING = "invited", "existing"  # the invitation column: this run invited them / they already existed
GROUP_DONE = frozenset({"added", "already-member"})


class ResultsFileError(Exception):
    """The results file cannot be used (not one of ours, unreadable)."""


@dataclass
class RowResult:
    line: int
    email: str
    status: str = PENDING
    invitation: str = ""
    user_id: str = ""
    redeem_url: str = ""
    groups: dict[str, str] = field(default_factory=dict)  # group id -> added | already-member | pending | failed
    error: str = ""
    request_id: str = ""  # the status record's key; kept by every later run of the row

    @property
    def key(self) -> tuple[int, str]:
        return self.line, self.email.casefold()

    @property
    def done(self) -> bool:
        return self.status == DONE

    def with_status(self) -> RowResult:
        """Set ``status`` from the parts: done only when the user exists and every group is in."""
        if self.user_id and all(state in GROUP_DONE for state in self.groups.values()):
            self.status, self.error = DONE, ""
        elif self.error or any(state == "failed" for state in self.groups.values()):
            self.status = FAILED
        else:
            self.status = PENDING
        return self

    def to_cells(self) -> list[str]:
        groups = ";".join(f"{group}={state}" for group, state in self.groups.items())
        stamp = utc_now()
        return [str(self.line), self.email, self.status, self.invitation, self.user_id, self.redeem_url, groups,
                self.error, self.request_id, stamp]

    @classmethod
    def from_cells(cls, cells: dict[str, str]) -> RowResult:
        groups = {}
        for part in filter(None, (cells.get("groups") or "").split(";")):
            group, _, state = part.partition("=")
            groups[group] = state
        return cls(int(cells["line"]), cells["email"], cells["status"], cells.get("invitation") or "",
                   cells.get("userId") or "", cells.get("inviteRedeemUrl") or "", groups, cells.get("error") or "",
                   _request_id(cells.get("requestId")))


class ResultsFile:
    """Append-as-you-go results, safe to call from many worker threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._handle = None
        self._writer = None
        self.latest: dict[tuple[int, str], RowResult] = {}
        self.legacy = False  # load() read the layout without requestId: open() rewrites it first

    def load(self) -> dict[tuple[int, str], RowResult]:
        """What earlier runs recorded: the last line per row. An absent or empty file is an empty history."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return {}
        try:
            with self.path.open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                columns = tuple(reader.fieldnames or ())
                if columns not in (COLUMNS, LEGACY_COLUMNS):
                    raise ResultsFileError(f"{self.path} is not a results file of `cli.py bulk` (its columns are "
                                           f"{', '.join(reader.fieldnames or ())}); choose another --results path")
                for cells in reader:
                    result = _complete_result(cells)
                    if result is not None:
                        self.latest[result.key] = result
                self.legacy = columns == LEGACY_COLUMNS
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise ResultsFileError(f"cannot read {self.path}: {error}") from error
        return dict(self.latest)

    def discard(self) -> None:
        """Start afresh: the file and what load() read from it are forgotten (the demo tenant's runs)."""
        self.path.unlink(missing_ok=True)
        self.latest.clear()
        self.legacy = False

    def open(self) -> ResultsFile:
        if self.legacy:
            # Appending lines of the new layout under the old header would shift every cell: rewrite it first.
            self.compact(())
            self.legacy = False
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if not fresh:
            self._end_with_newline()
        self._handle = _private_open(self.path, "a")
        self._writer = csv.writer(self._handle)
        if fresh:
            self._writer.writerow(COLUMNS)
            self._handle.flush()
        return self

    def record(self, result: RowResult) -> None:
        """Append one row's state and flush it to the OS, so it survives the process being killed."""
        with self._lock:
            self.latest[result.key] = result
            self._writer.writerow(result.to_cells())
            self._handle.flush()

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def compact(self, order: Iterable[tuple[int, str]]) -> None:
        """Rewrite the file with one line per row (the keys in ``order`` first), atomically."""
        with self._lock:
            keys = list(dict.fromkeys([*order, *self.latest]))
            temporary = self.path.with_name(self.path.name + ".tmp")
            with _private_open(temporary, "w") as handle:
                writer = csv.writer(handle)
                writer.writerow(COLUMNS)
                writer.writerows(self.latest[key].to_cells() for key in keys if key in self.latest)
            os.replace(temporary, self.path)

    def __enter__(self) -> ResultsFile:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _end_with_newline(self) -> None:
        # A process killed mid-write can leave half a line; start ours on a fresh one.
        with self.path.open("rb+") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) not in (b"\n", b"\r"):
                handle.write(b"\r\n")


def _private_open(path: Path, mode: str) -> TextIO:
    """Open for the owner only (0600): the results hold addresses and user ids, and a resumed run reads them."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    descriptor = os.open(path, flags, 0o600)
    os.chmod(path, 0o600)  # a file that existed already (or a umask that widened it) is narrowed too
    return os.fdopen(descriptor, mode, newline="", encoding="utf-8")


def _complete_result(cells: dict[str, str | None]) -> RowResult | None:
    """A recorded line, or None for one a crash cut short (it then counts as not done, and the row runs again)."""
    if cells.get("updatedAt") is None or cells.get("status") not in (DONE, FAILED, PENDING):
        return None
    try:
        return RowResult.from_cells(cells)
    except (ValueError, KeyError, TypeError):
        return None


def _request_id(cell: str | None) -> str:
    """The recorded request id, or "" for one that is not a request id (the file is not trusted: a planted value
    must not name another request's status record, nor be long)."""
    from shared.requests_model import REQUEST_ID_PATTERN

    text = cell or ""
    return text if re.fullmatch(REQUEST_ID_PATTERN, text) else ""


def default_results_path(csv_path: str | Path, *, demo: bool = False) -> Path:
    """invitees.csv -> invitees.results.csv beside it. For the embedded demo tenant, invitees.demo-results.csv in a
    new private temporary folder: each demo run is a fresh simulated tenant with nothing to resume, so it leaves
    nothing beside the CSV (a clone's examples/ stays clean) and never makes a real run skip rows."""
    path = Path(csv_path)
    if demo:
        return Path(tempfile.mkdtemp(prefix="guest-onboarding-demo-")) / f"{path.stem}.demo-results.csv"
    return path.with_name(f"{path.stem}.results.csv")
