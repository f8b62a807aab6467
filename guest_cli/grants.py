"""``python cli.py grants list [--expiring-within 7d] [--json]`` and ``python cli.py revoke REQUEST_ID``: see the
group access this app granted, and end a request's access now (docs/lifecycle.md). The logic is in
:mod:`shared.grants` and :mod:`shared.lifecycle`; revoke is the same as ``DELETE /api/invitations/{requestId}``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys

from azure.core.exceptions import AzureError

from guest_cli import EXIT_OK, EXIT_PARTIAL, EXIT_REMOTE, EXIT_USAGE, app_records, settings_refused
from shared import app_context
from shared.settings import SettingsError

_SPAN = re.compile(r"^(\d{1,5})([dh])$")


def span(text: str) -> dt.timedelta:
    """``7d`` or ``12h`` (argparse type)."""
    match = _SPAN.match(text.strip().lower())
    if not match:
        raise argparse.ArgumentTypeError("give a number of days or hours, e.g. 7d or 12h")
    amount = int(match[1])
    return dt.timedelta(days=amount) if match[2] == "d" else dt.timedelta(hours=amount)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("grants", help="list the group access this app granted (and when it ends)",
                                   description="The grants table (guestgrants) in the app's storage account.")
    actions = parser.add_subparsers(title="actions", dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="active grants, soonest end first",
                                 description="Active grants (and those being removed), soonest end first.")
    listing.add_argument("--expiring-within", type=span, metavar="SPAN",
                         help="only grants ending within SPAN from now (e.g. 7d, 12h)")
    listing.add_argument("--all", action="store_true", help="ended and pending grants too")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.add_argument("--verbose", action="store_true", help="show the app's log records")
    listing.set_defaults(handler=run_list)
    revoke = subparsers.add_parser("revoke", help="end now the group access a request granted",
                                   description="Remove the person from each group the request granted (as DELETE "
                                               "/api/invitations/{requestId}); exit 1 when some removal is left to "
                                               "the hourly expiry.")
    revoke.add_argument("request_id", metavar="REQUEST_ID")
    revoke.add_argument("--json", action="store_true", help="print JSON instead of a table")
    revoke.add_argument("--verbose", action="store_true", help="show the app's log records")
    revoke.set_defaults(handler=run_revoke)


def run_list(args: argparse.Namespace) -> int:
    from shared.grants import ACTIVE, REMOVING, grant_store

    ctx = app_context.current()
    now = ctx.utcnow()
    try:
        with app_records(args.verbose):
            grants = list(grant_store().all())
    except SettingsError as error:
        return settings_refused(error.problems, sys.stderr)
    except AzureError as error:
        print(f"error: storage: {type(error).__name__}: {str(error).splitlines()[0][:300]}", file=sys.stderr)
        return EXIT_REMOTE
    if not args.all:
        grants = [g for g in grants if g.state in (ACTIVE, REMOVING)]
    if args.expiring_within is not None:
        grants = [g for g in grants if g.state in (ACTIVE, REMOVING) and g.until <= now + args.expiring_within]
    grants.sort(key=lambda g: (g.until, g.user_id, g.group_id))
    if args.json:
        print(json.dumps([g.to_dict() for g in grants], indent=2))
        return EXIT_OK
    if not grants:
        print("no grants")
        return EXIT_OK
    print(f"{'until':<21} {'state':<9} {'user id':<37} {'group id':<37} request id")
    for g in grants:
        print(f"{g.until_text:<21} {g.state:<9} {g.user_id:<37} {g.group_id:<37} {g.request_id or ''}")
    return EXIT_OK


def run_revoke(args: argparse.Namespace) -> int:
    from shared.revoke_api import handle_revoke

    with app_records(args.verbose):
        answer = handle_revoke(args.request_id)
    body = json.loads(answer.body)
    if args.json:
        print(json.dumps(body, indent=2))
    elif answer.status >= 400:
        print(f"error: {body.get('detail')}", file=sys.stderr)
        for error in body.get("errors") or []:
            print(f"  {error['field']}: {error['message']}", file=sys.stderr)
    else:
        for group in body["groups"]:
            print(f"{group['status']:<9} {group['userId']} {group['groupId']}")
    if answer.status == 200:
        return EXIT_OK
    if answer.status == 202:
        return EXIT_PARTIAL
    return EXIT_USAGE if answer.status in (400, 404) else EXIT_REMOTE
