"""Poison queues: read why a message failed, and put the original back on its main queue.

A poison message is either the app's envelope ``{"message", "error": {"status", "code", "message",
"graphRequestId"}, "attempts", "failedAt"}`` (written with a reason), or a message the Functions host moved itself
after ``maxDequeueCount`` failed deliveries, which carries no reason at all. The envelope is written by
shared.wire.poison_message, the one writer.
Bodies may be plain text or base64 (host.json uses ``messageEncoding: none``; other producers send base64).

Requeue sends first and deletes from the poison queue only after the send succeeded: a crash in between leaves the
message on both queues (a duplicate, which the core tolerates: an existing user is not invited again and "already a
member" counts as done), never on neither.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.queue import QueueClient

from .wire import POISON_SUFFIX, is_poison_envelope, parse_utc, read_queue_body

# Azure Storage queue names: 3-63 characters, lowercase letters, digits and single hyphens, starting and ending with a
# letter or digit (learn.microsoft.com/rest/api/storageservices/naming-queues-and-metadata).
QUEUE_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
PEEK_LIMIT = 32  # the Queue service returns at most 32 messages per peek or receive (Peek Messages REST API)
REQUEUE_LEASE_SECONDS = 300  # messages being requeued stay invisible this long; a crashed run's leftovers reappear


class QueueNameError(ValueError):
    """The queue name cannot be an Azure Storage queue (or its poison queue)."""


def queue_pair(name: str) -> tuple[str, str]:
    """``(main, poison)`` for either name: ``group-memberships`` and ``group-memberships-poison`` both map to the
    same pair, so an operator can type whichever they see in the portal."""
    main = name[: -len(POISON_SUFFIX)] if name.endswith(POISON_SUFFIX) else name
    poison = main + POISON_SUFFIX
    for candidate in (main, poison):
        if not QUEUE_NAME.match(candidate):
            raise QueueNameError(f"{candidate!r} is not a valid queue name (3-63 lowercase letters, digits, hyphens)")
    return main, poison


def decode_body(text: str) -> tuple[Any | None, str, str]:
    """``(parsed JSON or None, encoding, decoded text)`` for a queue body that is plain JSON or base64 of JSON."""
    body = read_queue_body(text)
    return body.value, body.encoding, body.text


@dataclass(frozen=True)
class PoisonMessage:
    """One message of a poison queue, read for an operator."""

    id: str
    original: str  # what requeue puts back: plain JSON text when the original was JSON (plain or base64)
    moved_by: str  # "app" (envelope with a reason) or "host" (moved after maxDequeueCount, no reason)
    encoding: str  # how the poison message itself was encoded: "plain", "base64" or "text" (not JSON)
    error: dict[str, Any] | None = None
    attempts: int | None = None
    failed_at: datetime | None = None
    inserted_on: datetime | None = None
    dequeue_count: int | None = None
    pop_receipt: str | None = field(default=None, repr=False)

    @property
    def reason(self) -> str:
        if self.error is None:
            return "moved by the Functions host after maxDequeueCount failed deliveries (no reason recorded)"
        parts = [str(self.error[key]) for key in ("status", "code") if self.error.get(key) is not None]
        head = " ".join(parts)
        text = str(self.error.get("message") or "")
        return f"{head}: {text}" if head and text else head or text or "(empty error)"

    def age_seconds(self, now: datetime) -> float | None:
        since = self.failed_at or self.inserted_on
        return None if since is None else max(0.0, (now - since).total_seconds())

    def to_dict(self, now: datetime) -> dict[str, Any]:
        parsed, _, _ = decode_body(self.original)
        return {
            "id": self.id, "reason": self.reason, "error": self.error, "attempts": self.attempts,
            "failedAt": _iso(self.failed_at), "insertedOn": _iso(self.inserted_on), "ageSeconds": self.age_seconds(now),
            "movedBy": self.moved_by, "encoding": self.encoding,
            "message": parsed if parsed is not None else self.original,
        }


def read_poison(message_id: str, content: str, inserted_on: datetime | None = None,
                dequeue_count: int | None = None, pop_receipt: str | None = None) -> PoisonMessage:
    """Interpret one poison queue body (the app's envelope, or a host-moved original, plain or base64)."""
    parsed, encoding, decoded = decode_body(content)
    common = {"id": message_id, "encoding": encoding, "inserted_on": inserted_on, "dequeue_count": dequeue_count,
              "pop_receipt": pop_receipt}
    if is_poison_envelope(parsed):
        error = parsed["error"] if isinstance(parsed["error"], dict) else {"message": str(parsed["error"])}
        attempts = parsed.get("attempts")
        return PoisonMessage(original=_original_text(parsed["message"]), moved_by="app", error=error,
                             attempts=attempts if isinstance(attempts, int) else None,
                             failed_at=parse_utc(parsed.get("failedAt")), **common)
    return PoisonMessage(original=decoded, moved_by="host", **common)


def _original_text(original: Any) -> str:
    if isinstance(original, str):
        inner, _, decoded = decode_body(original)  # the app may have kept an undecodable body as a string
        return decoded if inner is not None else original
    return json.dumps(original, ensure_ascii=False, separators=(",", ":"))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _from_queue(message: Any) -> PoisonMessage:
    return read_poison(message.id, message.content or "", message.inserted_on, message.dequeue_count,
                       message.pop_receipt)


@dataclass
class Listing:
    messages: list[PoisonMessage]
    approximate_count: int  # the service's estimate of the whole queue; 0 when the queue does not exist yet
    exists: bool


def list_poison(poison: QueueClient) -> Listing:
    """Peek (never receive: listing changes nothing) at the first messages of a poison queue."""
    try:
        count = poison.get_queue_properties().approximate_message_count or 0
    except ResourceNotFoundError:  # the host creates a poison queue only when it first needs one
        return Listing([], 0, exists=False)
    peeked = poison.peek_messages(max_messages=PEEK_LIMIT)
    return Listing([_from_queue(message) for message in peeked], count, exists=True)


@dataclass
class RequeueResult:
    requeued: list[str] = field(default_factory=list)  # poison message ids sent back and deleted
    duplicated: list[str] = field(default_factory=list)  # sent back but not deleted from poison (lease lost)
    missing: list[str] = field(default_factory=list)  # ids asked for but not found

    @property
    def complete(self) -> bool:
        return not self.duplicated and not self.missing


def requeue(poison: QueueClient, main: QueueClient, ids: Iterable[str] | None,
            started_at: datetime | None = None, lease_seconds: int = REQUEUE_LEASE_SECONDS) -> RequeueResult:
    """Put poison messages back on the main queue: those with ``ids``, or all when ``ids`` is None.

    Only messages already in the poison queue when the run started are taken (``started_at``), so a message that
    fails again while we run is not requeued in a loop; messages passed over are made visible again at the end.
    """
    wanted = None if ids is None else set(ids)
    main.get_queue_properties()  # fail before touching anything if the main queue does not exist
    try:
        started_at = started_at or _server_now(poison)
    except ResourceNotFoundError:  # no poison queue yet: nothing to requeue
        return RequeueResult(missing=sorted(wanted or ()))
    result = RequeueResult()
    passed_over: list[Any] = []
    pending: list[Any] = []
    pages = poison.receive_messages(messages_per_page=PEEK_LIMIT, visibility_timeout=lease_seconds)
    try:
        for page in pages.by_page():  # whole pages: every message received must be requeued or released
            pending = list(page)
            while pending:
                message = pending[0]
                if (wanted is None or message.id in wanted) and _inserted_before(message, started_at):
                    _requeue_one(_from_queue(message), poison, main, result)
                    if wanted is not None:
                        wanted.discard(message.id)
                else:
                    passed_over.append(message)
                pending.pop(0)
            if wanted is not None and not wanted:
                break
    finally:
        for message in passed_over + pending:  # pending: left over if a send failed half-way through a page
            _release(poison, message)
    result.missing = sorted(wanted or ())
    return result


def _release(poison: QueueClient, message: Any) -> None:
    """Make a received message visible again, unchanged. If our lease already ran out it is visible anyway."""
    with contextlib.suppress(HttpResponseError):
        poison.update_message(message, visibility_timeout=0)


def _server_now(queue: QueueClient) -> datetime:
    """The Queue service's own clock (its Date header), so a skewed local clock cannot make us pass over messages."""
    seen: list[str] = []
    queue.get_queue_properties(raw_response_hook=lambda response: seen.append(response.http_response.headers["Date"]))
    return parsedate_to_datetime(seen[0]) if seen else datetime.now(UTC)


def _inserted_before(message: Any, started_at: datetime) -> bool:
    return message.inserted_on is None or message.inserted_on <= started_at


def _requeue_one(item: PoisonMessage, poison: QueueClient, main: QueueClient, result: RequeueResult) -> None:
    main.send_message(item.original)  # plain text: the QueueClient has no encode policy (host.json: none)
    try:
        poison.delete_message(item.id, item.pop_receipt)
    except HttpResponseError:  # e.g. our lease ran out and someone else took it: it is now on both queues
        result.duplicated.append(item.id)
        return
    result.requeued.append(item.id)
