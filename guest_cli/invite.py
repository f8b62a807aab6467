"""``python cli.py invite EMAIL [--name] [--group ID …] [--message] [--language] [--cc] [--no-email] [--resend]
[--redirect-url] [--access-days N | --access-until T] [--json]``: onboard one person from the command line (the
options of Microsoft Graph PowerShell's ``New-MgInvitation`` that the HTTP API accepts, by their meaning, and the
end of access) through the same intake pipeline as
``POST /api/invitations`` (shared.intake), then the group memberships at once, each answer judged by the one
failure policy (shared.failures), waiting out Graph's replication lag with a visible countdown instead of a queue's
redeliveries. With the app's storage (``AzureWebJobsStorage``) the request gets the status record every door writes
(source ``cli``: guest_cli.invite_record), so ``cli.py status ID`` tells it group by group; without it, one line on
stderr says so and the invite runs with Graph only.

Exit codes: 0 everything asked for is done; 1 the person is in the directory but a group failed; 2 bad arguments,
settings or policy; 3 Graph or the identity platform refused or failed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import uuid
from typing import Any, TextIO

from azure.core.exceptions import AzureError

from guest_cli import EXIT_OK, EXIT_PARTIAL, EXIT_REMOTE, EXIT_USAGE, app_records, settings_refused
from guest_cli.demo_tenant import DemoTenant, demo_help, embedded_tenant_if_unconfigured
from guest_cli.invite_record import InviteRecord
from shared import app_context
from shared.credentials import CredentialError
from shared.failures import Verdict, judge, judge_membership
from shared.graph import GraphError
from shared.intake import Admitted, Refused, admit
from shared.problems import Problem, problem_text
from shared.requests_model import InvitationRequest, validate_invitation
from shared.settings import SettingsError
from shared.status import failure_problem, record_problem
from shared.wire import utc_text

MEMBERSHIP_WINDOW_SECONDS = 15 * 60  # how long to keep retrying a group while the new guest replicates
FIRST_WAIT_SECONDS = 2.0
MAX_WAIT_SECONDS = 60.0
OPTION_NAMES = {"email": "EMAIL", "displayName": "--name", "groupIds": "--group", "message": "--message",
                "redirectUrl": "--redirect-url", "sendInvitationMessage": "--no-email",
                "messageLanguage": "--language", "ccRecipients": "--cc", "resendInvitation": "--resend",
                "accessDays": "--access-days", "accessUntil": "--access-until"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "invite", help="invite one guest and add them to groups, waiting out replication",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Invite one person as a B2B guest (unless they are already in the directory), then add them "
                    "to each --group, retrying while the new guest replicates (up to 15 min, with a countdown).",
        epilog=demo_help() + "\n\nExample: python cli.py invite alice@fabrikam.com --group <group id>")
    parser.add_argument("email", metavar="EMAIL", help="the person's email address")
    parser.add_argument("--name", help="display name for a new guest")
    parser.add_argument("--group", dest="groups", action="append", default=[], metavar="ID",
                        help="a group to add them to (repeat for several; must be in ALLOWED_GROUP_IDS)")
    parser.add_argument("--message", help="a custom message in the invitation email (New-MgInvitation "
                                           "-InvitedUserMessageInfo CustomizedMessageBody)")
    parser.add_argument("--language", metavar="BCP47",
                        help="language of the invitation email, e.g. de-DE (MessageLanguage; Graph ignores it when "
                             "--message is given)")
    parser.add_argument("--cc", dest="cc", action="append", default=[], metavar="EMAIL",
                        help="copy this address on the invitation email (CcRecipients; Graph allows one)")
    parser.add_argument("--no-email", action="store_true", help="do not email the invitation (share the redeem URL; "
                                                                 "New-MgInvitation -SendInvitationMessage:$false)")
    parser.add_argument("--resend", action="store_true",
                        help="invite again a guest who has not redeemed yet (PendingAcceptance): a new email and "
                             "redeem URL (not New-MgInvitation -ResetRedemption, which resets a redeemed guest)")
    parser.add_argument("--redirect-url", help="where the guest lands after redeeming (default INVITE_REDIRECT_URL; "
                                               "-InviteRedirectUrl)")
    parser.add_argument("--json", action="store_true",
                        help="print the outcome as one JSON object on standard output (countdowns stay on stderr)")
    parser.add_argument("--access-days", type=int, metavar="N",
                        help="the group access ends N days from now (recorded as grants; docs/lifecycle.md)")
    parser.add_argument("--access-until", metavar="T", help="the group access ends then (e.g. 2027-03-31T17:00:00Z)")
    parser.add_argument("--verbose", action="store_true", help="print the app's structured log records")
    parser.set_defaults(handler=run_invite)


def run_invite(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    with app_records(args.verbose):
        refused: list[dict[str, str]] = []
        request = _request(args, err, refused)
        if request is None:
            if args.json:
                out.write(json.dumps({"exitCode": EXIT_USAGE, "errors": refused}, ensure_ascii=False) + "\n")
            return EXIT_USAGE
        with embedded_tenant_if_unconfigured(err) as demo:
            if not args.json:
                return _invite(request, demo, out, err)
            # The human report goes to stderr; stdout gets one JSON object, whatever the outcome.
            report: dict[str, Any] = {}
            code = _invite(request, demo, err, err, report)
            out.write(json.dumps({"exitCode": code, **report}, ensure_ascii=False) + "\n")
            out.flush()
            return code


def _request(args: argparse.Namespace, err: TextIO, refused: list[dict[str, str]]) -> InvitationRequest | None:
    """The request the options make, by the HTTP API's rules; each error printed and added to ``refused``."""
    body: dict[str, Any] = {"email": args.email, "displayName": args.name, "groupIds": args.groups or None,
                            "message": args.message, "redirectUrl": args.redirect_url,
                            "sendInvitationMessage": not args.no_email, "messageLanguage": args.language,
                            "ccRecipients": args.cc or None, "resendInvitation": args.resend or None,
                            "accessDays": args.access_days, "accessUntil": args.access_until}
    request, errors = validate_invitation({key: value for key, value in body.items() if value is not None})
    for error in errors:
        name, _, index = error.field.partition("[")
        shown = OPTION_NAMES.get(name, name)
        listed = {"groupIds": args.groups, "ccRecipients": args.cc}.get(name)
        value = f" {_bounded(listed[int(index.rstrip(']'))])!r}" if index and listed else ""
        print(f"error: {shown}{value}: {error.message}", file=err)
        refused.append({"option": shown, "value": value.strip(), "message": error.message})
    return request


def _invite(request: InvitationRequest, demo: DemoTenant | None, out: TextIO, err: TextIO,
            report: dict[str, Any] | None = None) -> int:
    """Onboard one person, printing as it goes; ``report`` (when given) is filled with what --json prints."""
    report = {} if report is None else report
    request_id = str(uuid.uuid4())
    report.update(email=request.email, requestId=request_id, demoTenant=demo is not None)
    ctx = app_context.current()
    result = admit(request, request_id, ctx.settings, ctx.graph, app_context.HTTP_BUDGET_SECONDS, ctx.utcnow)
    if isinstance(result, Refused):
        report["problem"] = result.problem.to_dict(request_id)
        return _refused(result.problem, err)
    person = result.person
    report.update(userId=person.user_id, invited=person.invited, userType=person.user_type,
                  invitationStatus=person.invitation_status, inviteRedeemUrl=person.redeem_url or None,
                  emailed=bool(person.invited and request.send_invitation_message), groups={})
    _print_person(result, demo, out)
    # The record before any add, as every door writes it; a storage failure is said once and changes nothing else.
    record = InviteRecord.accept(ctx, result, err, demo=demo is not None)
    report["statusRecord"] = record.written
    if not request.group_ids:
        return EXIT_OK
    if result.until is not None:
        out.write(f"  access until {utc_text(result.until)} (then removed from the groups by the hourly expiry)\n")
    out.write("Groups:\n")
    out.flush()
    states = []
    for index, group_id in enumerate(request.group_ids):
        try:
            state, attempts, problem = _join_and_grant(result, group_id, demo, out, err)
        except KeyboardInterrupt:
            # The command stops here: the groups not done are failed in the record, not left queued for 30 days
            # (no worker will try them). A second run finds the person and answers "already a member" where done.
            interrupted = record_problem({"code": "Interrupted", "message": "cli.py invite was interrupted before "
                                          "this group's add was confirmed; run the invite again"})
            for left in request.group_ids[index:]:
                record.group(left, "failed", 0, interrupted)
            raise
        record.group(group_id, state, attempts, problem)
        report["groups"][group_id] = state
        states.append(state != "failed")
    return EXIT_OK if all(states) else EXIT_PARTIAL


Joined = tuple[str, int, dict[str, Any] | None]  # "added" | "already-member" | "failed", the adds tried, the problem


def _join_and_grant(result: Admitted, group_id: str, demo: DemoTenant | None, out: TextIO, err: TextIO) -> Joined:
    """One group; with an end, recorded as a grant around the add, as the group-memberships worker does.
    Returns the state ("added", "already-member" or "failed"), the adds tried, and (failed) the record's problem."""
    user_id, request_id = result.person.user_id, result.request_id
    if result.until is None:
        return _join_group(user_id, group_id, request_id, demo, out, err)
    from shared import lifecycle
    from shared.grants import grant_store

    ctx = app_context.current()
    ask = lifecycle.GrantAsk(user_id, group_id, result.until, request_id, "cli", result.request.email,
                             result.person.invited, 1)
    joined: Joined = ("failed", 0, None)
    try:
        store = grant_store()
        lifecycle.before_add(store, ask, ctx.utcnow())
        joined = _join_group(user_id, group_id, request_id, demo, out, err)
        if joined[0] != "failed":
            lifecycle.after_add(ctx, store, ask, joined[0].replace("-", "_"), ctx.utcnow())
    except (SettingsError, AzureError) as error:
        print(f"error: group {group_id}: the grant could not be recorded (the app's storage, "
              f"AzureWebJobsStorage): {str(error).splitlines()[0][:300]}", file=err)
        return "failed", joined[1], failure_problem(judge(error), error)
    return joined


def _refused(problem: Problem, err: TextIO) -> int:
    """The verdict's problem on stderr; exit 2 for what the operator must fix here (input, settings, policy), 3 for
    what a remote service refused or failed at."""
    if problem.kind == "not-configured":
        return settings_refused({item["name"]: item["message"] for item in problem.extensions["settings"]}, err)
    _print_problem(problem, err)
    return EXIT_USAGE if problem.kind in ("invalid-request", "policy-refused") else EXIT_REMOTE


def _print_person(result: Admitted, demo: DemoTenant | None, out: TextIO) -> None:
    person, request = result.person, result.request
    if person.invited:
        how = "emailed by Microsoft" if request.send_invitation_message else "not emailed: share the redeem URL"
        how = f"{how}; simulated, nothing sent" if demo is not None else how
        out.write(f"Invited {request.email} as a guest ({how}).\n")
    else:
        state = person.invitation_status or "no pending invitation"
        out.write(f"{request.email} is already in the directory ({person.user_type}, {state}): "
                  "no new invitation.\n")
    out.write(f"  user id     {person.user_id}\n")
    out.write(f"  redeem URL  {person.redeem_url or '(none: no invitation was created by this run)'}\n")
    out.write(f"  request id  {result.request_id}\n")
    out.flush()


def _join_group(user_id: str, group_id: str, request_id: str, demo: DemoTenant | None, out: TextIO,
                err: TextIO) -> Joined:
    """Add the user to one group; the failure policy (shared.failures.judge_membership) decides what each answer
    means. What is worth retrying (replication lag included) is retried (Retry-After, else 2, 4, 8… s up to a
    minute) for up to 15 minutes. Returns the state ("added", "already-member" or "failed"), the adds tried, and
    (failed) the problem as the status record keeps it."""
    label = f"{demo.group_name(group_id)} ({group_id})" if demo and demo.group_name(group_id) else group_id
    graph = app_context.current().graph()
    started = time.monotonic()
    wait = FIRST_WAIT_SECONDS
    attempt = 0
    while True:
        attempt += 1
        try:
            graph.add_member(group_id, user_id, graph.budget(app_context.QUEUE_BUDGET_SECONDS), request_id)
            added = True
        except (GraphError, CredentialError) as error:
            verdict = judge_membership(error, group_id)
            if verdict.retry:
                retry_after = getattr(error, "retry_after", None)
                delay = retry_after if retry_after is not None else wait
                if time.monotonic() - started + delay <= MEMBERSHIP_WINDOW_SECONDS:
                    _countdown(label, delay, attempt, verdict, err)
                    wait = min(MAX_WAIT_SECONDS, wait * 2)
                    continue
            if not verdict.done:
                _print_failure(label, verdict, time.monotonic() - started, out)
                return "failed", attempt, failure_problem(verdict, error)
            added = False
        if added:
            after = f" after {time.monotonic() - started:.1f} s and {attempt} attempts" if attempt > 1 else ""
            out.write(f"  {label}: added{after}\n")
        else:
            out.write(f"  {label}: already a member\n")
        out.flush()
        return ("added" if added else "already-member"), attempt, None


def _print_failure(label: str, verdict: Verdict, elapsed: float, out: TextIO) -> None:
    problem = verdict.problem
    assert problem is not None
    graph_error = problem.extensions.get("graphError")
    if graph_error:
        text = f"{graph_error['status']} {graph_error['code']}: {graph_error['message']}"
    else:
        text = problem_text(problem)
    hint = ""
    if problem.extensions.get("requiredPermission"):
        hint = f" (grant the application permission {problem.extensions['requiredPermission']})"
    if verdict.retry:
        hint += f" (still failing after {elapsed:.0f} s)"
    out.write(f"  {label}: FAILED: {text}{hint}\n")
    out.flush()


def _countdown(label: str, seconds: float, attempt: int, verdict: Verdict, err: TextIO) -> None:
    """Wait ``seconds``, showing why and how long is left (redrawn each second on a terminal)."""
    if verdict.lag:
        why = "replication lag: Graph does not see the new guest yet"
    else:
        problem = verdict.problem
        graph_error = problem.extensions.get("graphError") if problem is not None else None
        why = _shorten(f"Graph answered {graph_error['status'] or 'nothing'} {graph_error['code']}" if graph_error
                       else problem_text(problem) if problem is not None else "")
    if not err.isatty():
        err.write(f"  {label}: not yet ({why}); retrying in {seconds:.0f} s (attempt {attempt + 1})\n")
        err.flush()
        time.sleep(seconds)
        return
    width = shutil.get_terminal_size((100, 20)).columns - 1  # one screen line, or \r cannot redraw it
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        text = f"  {label}: retry {attempt + 1} in {left:2.0f} s ({why})"
        err.write("\r" + (text if len(text) <= width else text[: width - 1] + "…").ljust(width))
        err.flush()
        time.sleep(min(1.0, left))
    err.write("\r" + " " * width + "\r")
    err.flush()


def _shorten(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print_problem(problem: Problem, err: TextIO) -> None:
    print(f"error: {problem.title}: {problem.detail}", file=err)
    for field_error in problem.errors:
        name, _, rest = field_error.field.partition("[")
        print(f"  {OPTION_NAMES.get(name, name)}{'[' + rest if rest else ''}: {field_error.message}", file=err)
    graph_error = problem.extensions.get("graphError")
    if graph_error:
        print(f"  Graph: {graph_error.get('status')} {graph_error.get('code')}: {graph_error.get('message')} "
              f"(request-id {graph_error.get('graphRequestId')})", file=err)
    if problem.extensions.get("requiredPermission"):
        print(f"  grant the application permission {problem.extensions['requiredPermission']}", file=err)
    if problem.retry_after is not None:  # what the HTTP API sends as Retry-After: when running it again can help
        print(f"  run it again in {problem.retry_after} s or later", file=err)


def _bounded(text: str, limit: int = 80) -> str:
    """An option's value as echoed in an error: bounded, whatever was typed or pasted."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
