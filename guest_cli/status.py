"""``python cli.py status REQUEST_ID``: what happened to one accepted invitation request, from its status record
(shared.status: the table ``invitationstatus`` of the app's storage account, read directly, as the app's
``GET /api/invitations/{requestId}`` answers it).

Exit codes: 0 every group is in (added or already a member); 1 a group failed or is still queued (see the output);
2 no record for this id, or a bad setting; 3 the storage account failed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import TextIO

from azure.core.exceptions import AzureError

from guest_cli import EXIT_OK, EXIT_PARTIAL, EXIT_REMOTE, EXIT_USAGE
from shared.requests_model import REQUEST_ID_PATTERN
from shared.settings import SettingsError
from shared.status import TABLE, StatusRecord, StatusStore
from shared.storage import STORAGE_SETTING, table_service


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "status", help="show what happened to an invitation request, group by group",
        description="Show an accepted invitation request's status record: the person, and each group's state "
                    "(queued, added, already_member, failed with Graph's reason), attempts and times. Records are "
                    "kept 30 days after their last change.")
    parser.add_argument("request_id", metavar="REQUEST_ID",
                        help="the requestId an answer, `cli.py invite` or a poison message showed")
    parser.add_argument("--connection-string", metavar="CS",
                        help=f"storage connection string (default: the app's {STORAGE_SETTING} setting, as for "
                             "`cli.py poison`)")
    parser.set_defaults(handler=run_status)


def run_status(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    request_id = args.request_id
    if not re.fullmatch(REQUEST_ID_PATTERN, request_id):
        print(f"error: REQUEST_ID must be 1-128 letters, digits or ._:- (got {request_id[:80]!r})", file=err)
        return EXIT_USAGE
    environ = {STORAGE_SETTING: args.connection_string} if args.connection_string else os.environ
    try:
        record = StatusStore(table_service(environ).get_table_client(TABLE)).read(request_id)
    except SettingsError as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    except AzureError as error:
        print(f"error: the storage account failed: {type(error).__name__}: {str(error).splitlines()[0][:300]}",
              file=err)
        return EXIT_REMOTE
    if record is None:
        print(f"error: no status record for {request_id}: never accepted, or older than the retention", file=err)
        return EXIT_USAGE
    print_record(record, out)
    return EXIT_OK if record.status == "succeeded" else EXIT_PARTIAL


def print_record(record: StatusRecord, out: TextIO) -> None:
    out.write(f"request  {record.request_id}  ({record.source or 'unknown door'}, accepted {record.created_at})\n")
    out.write(f"status   {record.status}\n")
    if record.email or record.user_id:
        invited = " (invited by this request)" if record.invited else ""
        out.write(f"person   {record.email or ''}  {record.user_id or ''}{invited}\n")
    for group in record.groups:
        line = f"  {group.group_id}  {group.status:<14} attempts {group.attempts}  updated {group.updated_at}"
        if group.status == "queued" and group.next_attempt_at:
            line += f"  next try {group.next_attempt_at} ({group.waiting_for})"
        out.write(line + "\n")
        if group.problem:
            problem = group.problem
            out.write(f"      {problem.get('status')} {problem.get('code')}: {problem.get('message')}"
                      f"  [{problem.get('type')}; Graph request-id {problem.get('graphRequestId')}]\n")
