"""The doctor's storage checks: each queue of the contract reachable (read-only: properties, never created), the
claim table readable, and the recorded evidence of invitations blocked by tenant policy (the newest
``guest-invitations-poison`` messages).

No check sends an invitation to find out whether invitations work: Graph has no dry run for ``POST /invitations``,
and reading the tenant's guest invite setting (``GET /policies/authorizationPolicy``, ``allowInvitesFrom``) needs
Policy.Read.All, which this app is deliberately not granted (least privilege, docs/deploy.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .diagnostics_report import Check, Status
from .failures import PARTNER_BLOCK, TENANT_BLOCK
from .settings import Settings, SettingsError
from .storage import STORAGE_SETTING, StorageTarget, queue_service, storage_target
from .wire import (
    EXPIRING_QUEUE,
    INVITATION_QUEUE,
    MEMBERSHIP_QUEUE,
    NOTIFICATION_QUEUE,
    POISON_SUFFIX,
    parse_utc,
    read_queue_body,
)

QUEUES = (MEMBERSHIP_QUEUE, MEMBERSHIP_QUEUE + POISON_SUFFIX, INVITATION_QUEUE, INVITATION_QUEUE + POISON_SUFFIX)
SHAREPOINT_QUEUE = NOTIFICATION_QUEUE
INVITATION_POISON = INVITATION_QUEUE + POISON_SUFFIX
# A check must answer fast: no retries, short timeouts (a closed port or a black-holed address fails quickly).
CLIENT_OPTIONS = {"retry_total": 0, "connection_timeout": 5, "read_timeout": 10}
PEEK_MAX = 32  # the most the Queue service returns from one peek
EVIDENCE_HOURS = 24
RECENT_POISON_MINUTES = 60  # poison messages this recent make /api/health "degraded" (still 200)


def queue_checks(environ: Mapping[str, str], settings: Settings | None) -> list[Check]:
    try:
        target = storage_target(environ)
        service = queue_service(environ, **CLIENT_OPTIONS)
    except SettingsError as error:
        name, message = next(iter(error.problems.items()))
        return [Check("storage", Status.MISSING, f"{name}: {message}",
                      f"Set {STORAGE_SETTING} (UseDevelopmentStorage=true with Azurite locally) or, in Azure, "
                      f"{STORAGE_SETTING}__queueServiceUri with __credential=managedidentity (infra/ sets them).")]
    except ValueError:  # never echo the connection string: it may hold the account key
        return [Check("storage", Status.ERROR, f"{STORAGE_SETTING} is not a valid connection string",
                      "Copy the connection string again (or use the identity-based settings).")]
    checks = [Check("storage", Status.OK, target.describe())]
    sharepoint = settings.sharepoint_site_url if settings else environ.get("SHAREPOINT_SITE_URL")
    names = (*QUEUES, SHAREPOINT_QUEUE) if sharepoint else QUEUES
    if settings.expiry_reminder_days if settings else environ.get("EXPIRY_REMINDER_DAYS") not in (None, "", "0"):
        # the hourly expiry writes reminders there (docs/lifecycle.md)
        names = (*names, EXPIRING_QUEUE)
    reachable: set[str] = set()
    for index, name in enumerate(names):
        check = _queue_check(service, target, name)
        checks.append(check)
        if check.status is Status.OK:
            reachable.add(name)
        elif check.detail.startswith("unreachable"):  # the rest would wait for the same timeout
            checks.extend(Check(f"queue {rest}", Status.SKIPPED, "storage unreachable") for rest in names[index + 1:])
            break
    poison_queues = [name for name in names if name.endswith("-poison") and name in reachable]
    if poison_queues:
        checks.append(recent_poison_check({name: service.get_queue_client(name) for name in poison_queues}))
    if INVITATION_POISON in reachable:
        checks.append(invitation_policy_check(service.get_queue_client(INVITATION_POISON)))
    else:
        checks.append(Check("invitation policy", Status.SKIPPED, f"{INVITATION_POISON} cannot be read"))
    checks.append(claim_table_check(environ, target))
    return checks


def claim_table_check(environ: Mapping[str, str], target: StorageTarget) -> Check:
    """The claim table (shared/claims.py) readable: one query for a key no claim has (read-only). Every new guest's
    invitation takes a claim there, so a refusal (403: the identity lacks Storage Table Data Contributor) would
    answer every one of them 503 storage-unavailable. A table not created yet is fine: the first claim creates it."""
    from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

    from .claims import TABLE
    from .storage import table_service

    name = f"table {TABLE}"
    try:
        table = table_service(environ, **CLIENT_OPTIONS).get_table_client(TABLE)
        next(iter(table.query_entities("PartitionKey eq 'doctor'", results_per_page=1).by_page()), None)
    except SettingsError as error:
        setting, message = next(iter(error.problems.items()))
        return Check(name, Status.MISSING, f"{setting}: {message}", "Set the table endpoint (infra/ sets it).")
    except ResourceNotFoundError:
        return Check(name, Status.OK, "not created yet: the first invitation of a new guest creates it")
    except HttpResponseError as error:
        code = error.error_code or error.reason
        if error.status_code == 403:
            return Check(name, Status.ERROR, f"refused (403 {code}): every new guest's invitation would answer 503",
                         _role_fix(target, code).replace("Storage Queue Data Contributor",
                                                         "Storage Table Data Contributor"))
        return Check(name, Status.ERROR, f"storage answered {error.status_code} {code}",
                     "Check the storage account and try again.")
    except AzureError as error:
        return Check(name, Status.ERROR, f"unreachable: {type(error).__name__}",
                     f"Check {STORAGE_SETTING}'s table endpoint: is the account (or Azurite) reachable?")
    return Check(name, Status.OK, "reachable (one claim per address while callers race: docs/api.md)")


def _queue_check(service: Any, target: StorageTarget, name: str) -> Check:
    from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

    try:
        properties = service.get_queue_client(name).get_queue_properties()
    except ResourceNotFoundError:
        return Check(f"queue {name}", Status.MISSING, "the queue does not exist",
                     f"{_create_command(target, name)}   (azd provision creates every queue)")
    except HttpResponseError as error:
        if error.status_code is None:  # no answer: the credential failed before any request
            return Check(f"queue {name}", Status.ERROR, f"no storage token: {type(error).__name__}",
                         "Check the identity named by AzureWebJobsStorage__clientId exists and is attached.")
        code = error.error_code or error.reason
        if error.status_code == 403:
            return Check(f"queue {name}", Status.ERROR, f"refused (403 {code})", _role_fix(target, code))
        return Check(f"queue {name}", Status.ERROR, f"storage answered {error.status_code} {code}",
                     "Check the storage account and try again.")
    except AzureError as error:
        return Check(f"queue {name}", Status.ERROR, f"unreachable: {type(error).__name__} at {_endpoint(service)}",
                     f"Check {STORAGE_SETTING}: is the account (or Azurite, `npx azurite`) running and reachable?")
    count = properties.approximate_message_count or 0
    detail = f"reachable, about {count} message(s)"
    if name.endswith("-poison") and count:
        detail += f": see why with `python cli.py poison list {name}`"
    return Check(f"queue {name}", Status.OK, detail)


def recent_poison_check(queues: Mapping[str, Any], now: dt.datetime | None = None) -> Check:
    """How many messages each poison queue received in the last hour, from the time the queue service stamped on
    each (``inserted_on``: when it was written to the poison queue, by the app or by the host). A peek sees only
    the oldest PEEK_MAX messages of a queue, so a longer queue is reported as "at least" and says so."""
    from azure.core.exceptions import AzureError

    since = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=RECENT_POISON_MINUTES)
    counts: dict[str, str] = {}
    unread: list[str] = []  # queues whose peek was full: newer messages may lie beyond it
    total = 0
    for name, queue in queues.items():
        try:
            peeked = queue.peek_messages(max_messages=PEEK_MAX)
        except AzureError as error:
            return Check("recent poison", Status.SKIPPED, f"cannot read {name}: {type(error).__name__}")
        recent = sum(1 for item in peeked if item.inserted_on is not None and item.inserted_on >= since)
        total += recent
        if len(peeked) >= PEEK_MAX:
            unread.append(name)
        if recent:  # a full peek may leave newer messages unread: the count is a floor
            counts[name] = f"at least {recent}" if len(peeked) >= PEEK_MAX else str(recent)
    if not total:
        detail = f"no poison message in the last {RECENT_POISON_MINUTES} min ({', '.join(queues)})"
        if unread:
            detail = (f"none in the last {RECENT_POISON_MINUTES} min among the oldest {PEEK_MAX} messages of "
                      f"{', '.join(unread)}; newer ones cannot be peeked: list them with `python cli.py poison list`")
        return Check("recent poison", Status.OK, detail)
    detail = ", ".join(f"{name}: {count}" for name, count in counts.items())
    return Check("recent poison", Status.DEGRADED,
                 f"{total} poison message(s) in the last {RECENT_POISON_MINUTES} min ({detail})",
                 "See why with `python cli.py poison list <queue>`; requeue once the cause is fixed "
                 "(docs/doctor.md, failures by reason).")


def invitation_policy_check(poison: Any) -> Check:
    """Did Graph say, in the last day, that tenant policy blocks invitations? (From the recorded failures.)"""
    from azure.core.exceptions import AzureError

    try:
        peeked = poison.peek_messages(max_messages=PEEK_MAX)
    except AzureError as error:
        return Check("invitation policy", Status.SKIPPED, f"cannot read {INVITATION_POISON}: {type(error).__name__}")
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=EVIDENCE_HOURS)
    tenant, partners = [], set()
    for item in peeked:
        entry = _entry(item.content)
        failed_at = parse_utc(entry.get("failedAt"))
        error = entry.get("error") if isinstance(entry.get("error"), dict) else {}
        message = str(error.get("message") or "").casefold()
        blocked_by = error.get("blockedBy")  # the invitations-blocked problem's; older messages: Graph's words
        if failed_at is None or failed_at < since:
            continue
        if blocked_by == "tenant-settings" or any(text in message for text in TENANT_BLOCK):
            tenant.append(entry)
        elif blocked_by == "cross-tenant-access" or any(text in message for text in PARTNER_BLOCK):
            partners.add(_domain(entry))
    if tenant:
        newest = max(tenant, key=lambda entry: entry["failedAt"])
        return Check("invitation policy", Status.ERROR,
                     f"Graph refused {len(tenant)} invitation(s) since {since:%Y-%m-%d %H:%M}Z, newest at "
                     f"{newest['failedAt']}: {str(newest['error'].get('message'))[:300]}",
                     "Entra admin center > External Identities > External collaboration settings > Guest invite "
                     "settings: allow guest invitations; then `python cli.py poison requeue guest-invitations-poison "
                     "--all`.")
    detail = (f"no invitation refused by tenant policy in the last {EVIDENCE_HOURS} h ({len(peeked)} "
              f"{INVITATION_POISON} message(s) read; a check never sends an invitation to find out)")
    if partners:
        detail += f"; blocked by cross-tenant access settings for: {', '.join(sorted(partners))}"
        return Check("invitation policy", Status.OK, detail, "For those organizations: Entra admin center > External "
                     "Identities > Cross-tenant access settings > allow B2B collaboration (both tenants' admins).")
    return Check("invitation policy", Status.OK, detail)


def _entry(content: Any) -> dict[str, Any]:
    value = read_queue_body(content if isinstance(content, bytes) else str(content or "")).value
    return value if isinstance(value, dict) else {}


def _domain(entry: dict[str, Any]) -> str:
    """Only the domain: the address itself is personal data (LOG_PII governs the logs, not this report)."""
    email = (entry.get("message") or {}).get("email") if isinstance(entry.get("message"), dict) else None
    return str(email).rpartition("@")[2].lower() if email and "@" in str(email) else "(unknown domain)"


def _account(target: StorageTarget) -> str:
    host = urlsplit(target.queue_url or "").hostname or ""
    return host.split(".")[0] or "<storage account>"


def _create_command(target: StorageTarget, name: str) -> str:
    if target.connection_string is not None:
        return f'az storage queue create --name {name} --connection-string "${STORAGE_SETTING}"'
    return f"az storage queue create --name {name} --account-name {_account(target)} --auth-mode login"


def _role_fix(target: StorageTarget, code: str | None) -> str:
    if code == "KeyBasedAuthenticationNotPermitted":
        return ("The account has shared keys off: use the identity-based settings "
                f"({STORAGE_SETTING}__queueServiceUri, __credential=managedidentity, __clientId) instead of a key.")
    account = _account(target)
    return ("Give the identity Storage Queue Data Contributor on the account: az role assignment create "
            "--assignee-object-id <principal id> --assignee-principal-type ServicePrincipal --role "
            f"\"Storage Queue Data Contributor\" --scope $(az storage account show -n {account} --query id -o tsv) "
            "(new role assignments take a few minutes).")


def _endpoint(service: Any) -> str:
    parts = urlsplit(getattr(service, "url", "") or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "the storage endpoint"
