"""Grant events ("granted", "extended", "reminded", "expired", "revoked") for whoever records them: the log (always),
the SharePoint row's "Access status" (shared/sharepoint/access_status.py, registered by function_app.py) and, once
it exists, the status resource (issue 14). No SDK imports here: function_app.py registers recorders at import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .logging_setup import log_event

# (event, grant) -> None; the grant is a shared.grants.Grant
StatusRecorder = Callable[[str, Any], None]


def _log_only(event: str, grant: Any) -> None:
    log_event("grant.status", grantEvent=event, userId=grant.user_id, groupId=grant.group_id, until=grant.until_text,
              requestId=grant.request_id, state=grant.state, endReason=grant.end_reason)


_recorders: list[StatusRecorder] = [_log_only]


def record_status(event: str, grant: Any) -> None:
    """Give the event to each recorder; a recorder's failure is logged and never undoes or repeats the step."""
    for recorder in list(_recorders):
        try:
            recorder(event, grant)
        except Exception:
            log_event("grant.status_failed", userId=grant.user_id, groupId=grant.group_id, grantEvent=event,
                      exc_info=True)


def add_status_recorder(recorder: StatusRecorder) -> None:
    if recorder not in _recorders:  # registering twice (a re-imported function_app) must not record twice
        _recorders.append(recorder)


def remove_status_recorder(recorder: StatusRecorder) -> None:
    if recorder in _recorders:
        _recorders.remove(recorder)
