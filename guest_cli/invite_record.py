"""The status record of a ``cli.py invite`` request (issue 14: every accepted request gets a record keyed by its
``requestId``): the record every other door writes (shared.status, table ``invitationstatus``, source ``cli``), so
``cli.py status ID`` and ``GET /api/invitations/{requestId}`` tell an invite from the command line as they tell any
request, and the app's grant events (a renewal, the hourly expiry, a revoke) reach it.

The command adds the memberships itself (not through the ``group-memberships`` queue), so it writes the record
itself: the acceptance once ``admit`` accepted the request (each group ``queued``, in one transaction), then one merge
per group as its add ends (``added``, ``already_member``, or ``failed`` with the problem the membership worker would
record for the same failure: shared.status.failure_problem).

Storage is optional, as for the bulk (guest_cli.bulk.status_records): the app's own account (``AzureWebJobsStorage``
from the environment, in either form, as ``cli.py status`` and ``cli.py poison`` reach it). Without it, on the demo
tenant, or when a write fails, the invite goes on with Graph only, says so in ONE line on stderr (naming the setting,
never its key) and keeps its exit code; after a failed write no other is tried (each would wait out the storage
client's retries again).
"""

from __future__ import annotations

from typing import Any, TextIO

from shared import status
from shared.app_context import AppContext
from shared.settings import SettingsError
from shared.storage import STORAGE_SETTING, failure_text

SOURCE = "cli"


class InviteRecord:
    """One request's record, best effort; :attr:`written` says whether the acceptance was written."""

    def __init__(self, ctx: AppContext, request_id: str, err: TextIO) -> None:
        self.ctx = ctx
        self.request_id = request_id
        self.err = err
        self.written = False
        self._broken = False  # said once; no further write is tried

    @classmethod
    def accept(cls, ctx: AppContext, admitted: Any, err: TextIO, *, demo: bool = False) -> InviteRecord:
        """Write the accepted request's record (``admitted``: shared.intake.Admitted) before any group's add."""
        record = cls(ctx, admitted.request_id, err)
        if demo:
            record._say("none on the demo tenant (nothing real is touched)")
            return record
        try:
            status.record_admitted(ctx, admitted, SOURCE)
        except SettingsError as error:
            missing = STORAGE_SETTING in error.problems and "not set" in error.problems[STORAGE_SETTING]
            # A malformed setting's text may quote its value (never a key: those are in the connection string,
            # which is not parsed here): bounded.
            named = "; ".join(f"{name}: {text}" for name, text in error.problems.items())[:300]
            record._say(f"none ({STORAGE_SETTING} is not set)" if missing else f"none (setting {named})")
            return record
        except Exception as error:  # the storage SDK's errors, or a malformed connection string
            record._say(f"not written (the app's storage account, {STORAGE_SETTING}, failed: {failure_text(error)})")
            return record
        record.written = True
        return record

    def group(self, group_id: str, state: str, attempts: int, problem: dict[str, Any] | None = None) -> None:
        """One group's add ended (``state``: "added", "already-member" or "failed", the command's words)."""
        if not self.written or self._broken:
            return
        final = status.CLI_STATES.get(state, status.FAILED)
        try:
            status.store(self.ctx).group(self.request_id, group_id, final, attempts,
                                         problem=problem if final == status.FAILED else None)
        except Exception as error:  # storage failed: the membership is done or failed all the same
            self._say(f"incomplete (the app's storage account, {STORAGE_SETTING}, failed: {failure_text(error)})",
                      f"`cli.py status {self.request_id}` may show group {group_id} and later ones still queued")

    def _say(self, what: str, consequence: str = "") -> None:
        self._broken = True
        consequence = consequence or f"`cli.py status {self.request_id}` will not find this request"
        self.err.write(f"Status record: {what}; {consequence}.\n")
        self.err.flush()
