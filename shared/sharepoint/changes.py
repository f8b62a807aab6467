"""The ``sharepoint-notifications`` worker: a notification says only "the list changed", so read what changed
with Graph's ``items/delta`` from the saved link, page by page, handle each row, and save the next link only
once the page's rows are handled (a crash re-reads that page; claims keep rows from running twice)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .. import app_context
from ..app_context import AppContext
from ..failures import RetryLater, judge, verdict_for
from ..graph import GraphError
from ..logging_setup import log_event
from ..problems import Problem, problem_text
from ..wire import MEMBERSHIP_QUEUE, poison_error, poison_message, read_queue_body
from . import config, storage
from .lists import SiteLists
from .rows import RowBusy, RowContext, handle_row
from .state import TABLE, SharePointState, StateConflict

MAX_RESYNCS = 2


class ChangesPending(RetryLater):
    """Some rows could not be handled now (claimed by another worker, throttled): deliver the message again."""


@dataclass
class NotificationResult:
    summary: ChangesSummary | None
    poison: str | None = None  # the sharepoint-notifications-poison message to write, if any


def process_notification(body: bytes | str, dequeue_count: int | None, message_id: str | None = None,
                         ctx: AppContext | None = None) -> NotificationResult:
    """One delivery of a ``sharepoint-notifications`` message (any message means "the list changed"). Every failure
    becomes the failure policy's verdict: retry → raise (the host delivers it again after host.json's
    visibilityTimeout); give up, or the last delivery → the poison message with the reason, never a bare raise."""
    ctx = ctx or app_context.current()
    attempts = dequeue_count or 1
    log_event("sharepoint.changes_start", dequeueCount=attempts)
    try:
        return NotificationResult(process_changes(ctx))
    except ChangesPending as pending:
        failure: BaseException = pending
        verdict = verdict_for(Problem(503, "rows-busy", "Some rows could not be handled yet", str(pending),
                                      retry_after=60))
    except Exception as error:
        failure = error
        verdict = judge(error, "list")
        if verdict.problem is not None and verdict.problem.kind == "internal-error":
            log_event("sharepoint.bug", level=logging.ERROR, attempts=attempts, exc_info=True)
    verdict = verdict.final(attempts, ctx.max_dequeue_count())
    problem = verdict.problem
    assert problem is not None
    if verdict.retry:
        log_event("sharepoint.changes_retry", level=logging.WARNING, attempts=attempts, problemType=problem.type,
                  detail=problem.detail)
        if isinstance(failure, RetryLater):
            raise failure
        raise RetryLater(problem_text(problem)) from failure
    error = poison_error(problem, message_id or "unknown")
    log_event("sharepoint.changes_poisoned", level=logging.ERROR, attempts=attempts, status=error["status"],
              code=error["code"], graphRequestId=error.get("graphRequestId"))
    decoded = read_queue_body(body)
    message = decoded.value if decoded.value is not None else decoded.text
    return NotificationResult(None, poison_message(message, error, attempts))


@dataclass
class ChangesSummary:
    pages: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    resynced: bool = False
    superseded: bool = False  # another worker saved a newer link first


def process_changes(ctx: AppContext) -> ChangesSummary:
    """Read and handle every change since the saved delta link; raises ChangesPending to be run again."""
    settings = ctx.settings()
    config.require(settings, "SHAREPOINT_SITE_URL", "SHAREPOINT_LIST_ID")
    graph = ctx.graph()
    lists = SiteLists(graph)
    list_id = settings.sharepoint_list_id or ""
    site_id = lists.site_id(config.site_address(settings))
    state = SharePointState(storage.table_client(TABLE))
    rows = RowContext(settings, graph, lists, site_id, list_id, state, storage.queue_client(MEMBERSHIP_QUEUE))
    link, etag = state.delta_link(list_id)
    link = link or lists.delta_start(site_id, list_id)
    summary = ChangesSummary()
    busy: list[str] = []
    while True:
        page = _page(lists, link, site_id, list_id, summary)
        summary.pages += 1
        for item in page.get("value", []):
            try:
                outcome = handle_row(rows, item)
            except RowBusy:
                busy.append(item["id"])
                continue
            summary.outcomes[outcome] = summary.outcomes.get(outcome, 0) + 1
        if busy:
            # Not saving the link: this page is read again on the next delivery, when the claims have settled.
            log_event("sharepoint.changes_pending", level=logging.WARNING, listId=list_id, items=busy)
            raise ChangesPending(f"{len(busy)} row(s) busy: {', '.join(busy)}")
        following = page.get("@odata.nextLink") or page.get("@odata.deltaLink")
        if not following:
            raise GraphError(None, "noDeltaLink", "a delta page had neither @odata.nextLink nor @odata.deltaLink")
        try:
            etag = state.save_delta_link(list_id, following, etag)
        except StateConflict:
            summary.superseded = True  # another worker is further on; it handles what follows
            break
        if "@odata.deltaLink" in page:
            break
        link = following
    log_event("sharepoint.changes", listId=list_id, pages=summary.pages, resynced=summary.resynced,
              superseded=summary.superseded, **summary.outcomes)
    return summary


def _page(lists: SiteLists, link: str, site_id: str, list_id: str, summary: ChangesSummary) -> dict:
    """One delta page; on 410 Gone follow the Location Graph gives to start over (MGDC api/listitem-delta.md).
    Starting over re-reads every row, which is safe: rows that are not Pending are skipped."""
    for _ in range(MAX_RESYNCS + 1):
        try:
            return lists.delta_page(link)
        except GraphError as error:
            if error.status != 410:
                raise
            log_event("sharepoint.resync", level=logging.WARNING, listId=list_id, code=error.code)
            summary.resynced = True
            link = error.location or lists.delta_start(site_id, list_id)
            if "$expand=fields" not in link:
                link += ("&" if "?" in link else "?") + "$expand=fields"
    raise GraphError(410, "resyncRequired", "the delta link kept expiring")
