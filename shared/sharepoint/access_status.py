"""A SharePoint row's "Access status" column follows its grants (docs/lifecycle.md): until when each group's access
lasts, that a reminder went out, that it expired or was revoked. Registered by function_app.py as a grant-event
recorder (shared.grant_events); a failure is logged there and never undoes the lifecycle step (the next event
writes the whole line again)."""

from __future__ import annotations

from typing import Any

from .. import app_context
from .completion import trusted_target
from .lists import SiteLists

WORDS = {"granted": "access until {until}", "extended": "access extended until {until}",
         "reminded": "access ends {until} (reminder sent)", "expired": "access ended {until} (expired)",
         "revoked": "access ended (revoked)"}


def on_grant_event(event: str, grant: Any) -> None:
    reference = grant.source_ref
    if grant.source != "sharepoint" or not isinstance(reference, dict) or event not in WORDS:
        return
    # The reference came from a queue message's source, which anyone who can write the queue writes: only the
    # configured list's items, as the membership outcome hook (issue 13, item 1).
    target = trusted_target(reference)
    if target is None:
        return
    site_id, list_id, item_id = target
    text = f"group {grant.group_id}: {WORDS[event].format(until=grant.until_text)}"
    lists = SiteLists(app_context.current().graph())
    # No If-Match: the app owns this column, and a row's other fields are not touched.
    lists.update_fields(site_id, list_id, item_id, {"AccessStatus": text}, None)
