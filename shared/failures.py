"""One failure policy: every failure the app meets becomes one :class:`Verdict`: done, retry (after how long), or
give up, with its reason as a :class:`~shared.problems.Problem` from the one catalogue (docs/api.md).

Every door renders the verdict in its own medium and decides nothing itself: the HTTP API answers the problem's
status (with Retry-After when it is worth retrying), a queue worker raises for another delivery while the verdict
is "retry" and writes a poison message with the reason once it is not (or on the last delivery), a SharePoint row
gives its claim back or is marked Failed, a bulk row is recorded as failed with the reason, the CLI exits 2 or 3.

What counts as worth another try is :data:`RETRYABLE_KINDS` (the problems) and :data:`TRANSIENT_STATUSES` (the
Graph answers the Graph client itself retries within a call): change it here, and every door follows.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from .problems import Problem, internal_error, not_configured

if TYPE_CHECKING:
    from .credentials import CredentialError
    from .graph import GraphError

# Graph answers worth trying again (MGDC concepts/errors.md: 429 throttled, 5xx the service; 408 a slow request).
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# Problems worth another try later: Graph, the identity platform or storage throttling or down; a credential or a
# setting an operator can fix meanwhile (a Graph 401 that survives the one token refresh is the credential's);
# a new guest not yet visible to writes; another request inviting the same person (shared/claims.py); a bug (a
# redelivery may pass, and the last one records the reason).
RETRYABLE_KINDS = frozenset({"graph-throttled", "graph-unavailable", "identity-unavailable", "credential-refused",
                             "not-configured", "storage-unavailable", "replication-lag", "rows-busy",
                             "invitation-in-progress", "invitation-unconfirmed", "internal-error"})

# The Graph application permission each operation needs, named when Graph says it is missing.
PERMISSIONS = {"lookup": "User.Read.All", "invite": "User.Invite.All", "add-member": "GroupMember.ReadWrite.All",
               "list": "Sites.Selected", "remove-member": "GroupMember.ReadWrite.All",
               "sponsors": "User.ReadWrite.All", "disable-user": "User.EnableDisableAccount.All",
               "delete-user": "User.DeleteRestore.All"}

# Graph's own words when policy blocks an invitation: the tenant's guest invite settings, or cross-tenant access.
TENANT_BLOCK = ("guest invitations not allowed", "b2b invitations are disabled", "guest invitations are disabled")
PARTNER_BLOCK = ("cross-tenant access settings", "cross-tenant access policy")

# Said with a missing permission when the app runs as a managed identity (azure-docs overview-managed-identity.md:
# the back end caches tokens per resource "for around 24 hours"; an app "may continue to get a cached token with
# outdated permissions"), and how to re-drive what failed meanwhile in one command.
CACHED_ROLES_NOTE = (
    "The app runs as a managed identity: if the role was granted recently, the platform may still serve a cached "
    "token without it for up to 24 h. Once the role shows in the token (python cli.py doctor), re-drive what failed "
    "meanwhile: python cli.py poison requeue group-memberships-poison --all (and guest-invitations-poison).")

# Retry verdicts that are waits, not faults: Graph asked us to come back (throttled, busy) or the new guest is not
# visible yet. A queue door puts such a message back with a visibility delay and the invocation succeeds; any other
# retry verdict (identity platform, storage, a credential or setting, a bug) is a fault the host redelivers.
WAIT_KINDS = frozenset({"replication-lag", "graph-throttled", "graph-unavailable"})
LAG_BACKOFF_MAX_SECONDS = 600  # the lag backoff doubles per try (2, 4, 8 … s) up to this

DEFAULT_RETRY_SECONDS = 30
# Answers seen while a new object replicates (MGDC api/group-post-members.md; the eventual consistency guidance).
# Matched on meaning, not one spelling: "(the added object) references do not / don't / does not exist" (the
# apostrophe plain or typographic), or
# "Not a valid reference update" (MGDC words it "do not" in one version and "don't" in another; threads show both).
# A 400 that merely says something "does not exist" (a property, a type) is a bad request, not lag. Bounded gap: linear.
_LAG_TEXTS = re.compile(r"\breferences?\b.{0,80}?\b(?:do|does)(?:\s+not|n['\u2019]t)\s+exist\b"
                        r"|\bnot\s+a\s+valid\s+reference\s+update\b", re.IGNORECASE | re.DOTALL)
_LAG_CODES = frozenset({"Request_ResourceNotFound", "Directory_ObjectNotFound"})


class RetryLater(Exception):
    """Raised by a queue door for a retry verdict: the host delivers the message again after host.json's
    visibilityTimeout."""


class Action(StrEnum):
    DONE = "done"
    RETRY = "retry"
    GIVE_UP = "give-up"


@dataclass(frozen=True)
class Verdict:
    action: Action
    problem: Problem | None = None  # the reason (None when done)
    after: int | None = None  # seconds to wait before the next try (Retry-After, else the problem's default)

    @property
    def retry(self) -> bool:
        return self.action is Action.RETRY

    @property
    def done(self) -> bool:
        return self.action is Action.DONE

    @property
    def lag(self) -> bool:
        """Retry because a new guest is not yet visible to writes (worth short in-call waits)."""
        return self.problem is not None and self.problem.kind == "replication-lag"

    @property
    def wait(self) -> bool:
        """Retry because Graph asked to wait or the guest is not visible yet: a wait, not a fault (WAIT_KINDS)."""
        return self.retry and self.problem is not None and self.problem.kind in WAIT_KINDS

    def wait_seconds(self, attempts: int, lag_estimate: float = 0.0) -> int:
        """How long to wait before the next try after ``attempts`` tries: the Retry-After Graph sent (kept in
        ``after``); for replication lag at least the lag backoff, which doubles per try (2, 4, 8 … 600 s), and at
        least ``lag_estimate`` (the lag the process has learned to expect for a new guest: shared.lag)."""
        after = self.after or DEFAULT_RETRY_SECONDS
        if self.lag:
            backoff = min(2 ** max(1, attempts), LAG_BACKOFF_MAX_SECONDS)
            return max(after, backoff, math.ceil(min(lag_estimate, LAG_BACKOFF_MAX_SECONDS)))
        return after

    def final(self, attempts: int, max_attempts: int) -> Verdict:
        """This verdict for a door that redelivers: a retry on the last delivery gives up, keeping its reason."""
        if self.retry and attempts >= max_attempts:
            return Verdict(Action.GIVE_UP, self.problem)
        return self


DONE = Verdict(Action.DONE)


def verdict_for(problem: Problem) -> Verdict:
    """The verdict a problem of the catalogue carries: retry when its kind is worth another try, else give up."""
    if problem.kind in RETRYABLE_KINDS:
        return Verdict(Action.RETRY, problem, problem.retry_after or DEFAULT_RETRY_SECONDS)
    return Verdict(Action.GIVE_UP, problem)


def judge(error: BaseException, operation: str = "lookup") -> Verdict:
    """The verdict for any failure met during ``operation`` ("lookup", "invite", "add-member", "list")."""
    return verdict_for(problem_for(error, operation))


def problem_for(error: BaseException, operation: str = "lookup") -> Problem:
    """The catalogue's problem for any failure; an exception the policy does not know is a bug (internal-error)."""
    from azure.core.exceptions import AzureError  # the storage SDKs' base error

    from .credentials import CredentialError
    from .graph import GraphError
    from .settings import SettingsError

    if isinstance(error, Problem):
        return error
    if isinstance(error, GraphError):
        return problem_from_graph(error, operation)
    if isinstance(error, CredentialError):
        return problem_from_credential(error)
    if isinstance(error, SettingsError):
        return not_configured(error.problems)
    if isinstance(error, AzureError):
        return Problem(503, "storage-unavailable", "The app's storage is unavailable",
                       f"Azure Storage failed: {type(error).__name__}: {_first_line(error)}", retry_after=60)
    return internal_error()


def missing_permission(error: GraphError) -> bool:
    """Graph refusing the app for want of a permission (403 Authorization_RequestDenied, "Insufficient privileges")."""
    return error.status == 403 and "privileges" in error.message.lower()


def problem_from_graph(error: GraphError, operation: str) -> Problem:
    """429/503-class answers: throttled or down; 401 after the one token refresh: the credential; 403 for want of a
    permission: the app; an invitation's 400/403: the person; anything else: Graph refused the app."""
    graph_error = {"graphError": error.to_dict()}
    if error.status == 429:
        return Problem(429, "graph-throttled", "Microsoft Graph is throttling this app",
                       "Graph asked us to slow down and the wait exceeds this call's budget; retry after the "
                       "Retry-After delay.", retry_after=_seconds(error.retry_after, 10), extensions=graph_error)
    if operation == "invite" and error.ambiguous:
        return invitation_unconfirmed(error)
    if error.status is None or error.status in TRANSIENT_STATUSES:
        return Problem(503, "graph-unavailable", "Microsoft Graph is unavailable",
                       "Graph failed or did not answer within this call's retry budget; retry later.",
                       retry_after=_seconds(error.retry_after, 30), extensions=graph_error)
    if error.status == 401:
        return Problem(502, "credential-refused", "The app's credential was refused",
                       "Graph refused the app's token even after a fresh one was fetched; an operator must fix the "
                       "credential.", extensions=graph_error)
    if missing_permission(error):
        permission = PERMISSIONS.get(operation, PERMISSIONS["lookup"])
        extensions = {**graph_error, "requiredPermission": permission}
        if error.platform_token_cache:
            extensions["tokenCache"] = CACHED_ROLES_NOTE
        return Problem(502, "graph-permission-missing", "The app lacks a Graph permission",
                       f"Graph refused the app: grant the application permission {permission} (admin consent)."
                       + (f" {CACHED_ROLES_NOTE}" if error.platform_token_cache else ""),
                       extensions=extensions)
    blocked = invitations_blocked(error) if operation == "invite" else None
    if blocked == "tenant":
        return Problem(502, "invitations-blocked", "This tenant does not allow guest invitations",
                       "The tenant's external collaboration settings forbid this app to invite guests: an operator "
                       "must allow guest invitations (Entra admin center > External Identities > External "
                       "collaboration settings), then re-drive the failed requests.",
                       extensions={**graph_error, "blockedBy": "tenant-settings"})
    if blocked == "cross-tenant":
        return Problem(502, "invitations-blocked", "Cross-tenant access settings block this invitation",
                       "The cross-tenant access settings (this tenant's or the guest's organization's) do not allow "
                       "B2B collaboration with that organization: the admins must allow it (Entra admin center > "
                       "External Identities > Cross-tenant access settings), then re-drive the request.",
                       extensions={**graph_error, "blockedBy": "cross-tenant-access"})
    if operation == "invite" and error.status in (400, 403):
        return Problem(422, "invitation-refused", "Graph refused to invite this person",
                       f"{error.code}: {error.message}", extensions=graph_error)
    return Problem(502, "graph-refused", "Microsoft Graph refused the app's request",
                   f"Graph answered {error.status} {error.code} to the {operation} call.", extensions=graph_error)


def invitation_unconfirmed(error: GraphError) -> Problem:
    """An invitation POST whose answer was lost (shared.onboarding) and whose guest the lookups after it did not
    find: it may have been applied, so it is a retry, and the Retry-After reaches the end of the address's claim
    (when one is held: shared.claims), the first moment a try can decide: by then the guest is visible, or the claim
    may be taken over by a try that looks up once more and only then invites. A retry sooner is harmless (it looks
    up first, then waits on the claim) but may only be told to wait again."""
    held = error.claim_seconds_left
    if held is None:  # no claim (a resend, or the CLI without storage): as any unanswered call
        after = _seconds(error.retry_after, DEFAULT_RETRY_SECONDS)
    else:
        after = max(1, math.ceil(held), math.ceil(error.retry_after or 0))
    return Problem(503, "invitation-unconfirmed", "The invitation's outcome is not known yet",
                   "Graph's answer to the invitation was lost and the person is not visible in the directory yet: "
                   "they may have been invited. Retry after the Retry-After delay: a retry looks the person up "
                   "first, so an invitation Graph did apply is not sent again (a retried resendInvitation is a new "
                   "resend).",
                   retry_after=after, extensions={"graphError": error.to_dict()})


def group_kind_problem(error: GraphError, group: dict) -> Problem | None:
    """Graph's generic 403 "Insufficient privileges" to a membership write, explained by the group it was for: a
    dynamic group takes no manual members at all, and a role-assignable one needs RoleManagement.ReadWrite.Directory,
    which this app is deliberately not granted (MGDC api/group-post-members.md). Neither is a missing
    GroupMember.ReadWrite.All, so the problem names the group's kind instead; None when the group is neither."""
    if not missing_permission(error):
        return None
    group_id = str(group.get("id") or "")[:40]
    if "DynamicMembership" in (group.get("groupTypes") or []) or group.get("membershipRule"):
        kind, detail = "dynamic", (f"Group {group_id} has dynamic membership (a membership rule decides its "
                                   "members): Graph accepts no manual members. Use a group with assigned membership.")
    elif group.get("isAssignableToRole"):
        kind, detail = "role-assignable", (f"Group {group_id} is role-assignable: adding members needs "
                                           "RoleManagement.ReadWrite.Directory, which this app is deliberately not "
                                           "granted. Keep privileged groups out of ALLOWED_GROUP_IDS.")
    else:
        return None
    return Problem(422, "group-not-addable", "The group does not take members from this app", detail,
                   extensions={"graphError": error.to_dict(), "groupKind": kind})


def invitations_blocked(error: GraphError) -> str | None:
    """"tenant" when Graph says the tenant forbids guest invitations, "cross-tenant" when cross-tenant access
    settings block this one, else None: the operator's problem, not the person's (MGDC api/invitation-post.md,
    entra-docs external-id/troubleshoot.md). The doctor reads the same texts in poison messages."""
    if error.status != 403:
        return None
    text = error.message.casefold()
    if any(words in text for words in TENANT_BLOCK):
        return "tenant"
    if any(words in text for words in PARTNER_BLOCK):
        return "cross-tenant"
    return None


def problem_from_credential(error: CredentialError) -> Problem:
    extensions = {"credentialError": {"code": error.code, "message": error.message}}
    if error.transient:
        return Problem(503, "identity-unavailable", "The identity platform is unavailable",
                       "The app could not get a token for Graph; retry later.", retry_after=error.retry_after or 30,
                       extensions=extensions)
    return Problem(502, "credential-refused", "The app's credential was refused",
                   "The identity platform refused the app's credential; an operator must fix it.",
                   extensions=extensions)


def judge_membership(error: BaseException, group_id: str) -> Verdict:
    """Adding a user to a group: "already a member" is done; the user's 404 and the 400 texts of replication lag
    are worth retrying (the new guest is not visible to writes yet); the group's own 404 gives up."""
    from .graph import GraphError

    if isinstance(error, GraphError):
        if error.status == 400 and error.code == "Request_BadRequest" and "already exist" in error.message:
            return DONE
        if error.status == 404 and group_id.lower() in error.message.lower():
            return verdict_for(problem_from_graph(error, "add-member"))  # the group itself does not exist
        if error.status == 404 or (error.status == 400 and (error.code in _LAG_CODES
                                                            or _LAG_TEXTS.search(error.message))):
            return verdict_for(Problem(503, "replication-lag", "The new guest is not visible yet",
                                       "Graph does not see the user yet (replication lag); retry shortly.",
                                       retry_after=_seconds(error.retry_after, 2),
                                       extensions={"graphError": error.to_dict()}))
    return judge(error, "add-member")


def judge_removal(error: BaseException, operation: str = "remove-member") -> Verdict:
    """Removing a user from a group (or deleting a user): "not a member" is done, in either shape Graph answers it
    (404 Request_ResourceNotFound; 400 "removed object references do not exist"), and so is the group's or the
    user's own 404 (nothing left to remove). Everything else as any Graph call."""
    from .graph import GraphError

    if isinstance(error, GraphError) and (error.status == 404 or (
            error.status == 400 and "removed object references do not exist" in error.message)):
        return DONE
    return judge(error, operation)


def _seconds(value: float | None, default: int) -> int:
    return default if value is None else max(1, math.ceil(value))


def _first_line(error: BaseException) -> str:
    # Storage errors can be long multi-line texts: the first line, bounded.
    return (str(error).splitlines() or [""])[0][:300]
