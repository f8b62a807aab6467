"""``python cli.py poison list|requeue QUEUE``: see why messages failed, and put them back once the cause is fixed
(e.g. after a missing Graph permission was granted). The logic is in :mod:`shared.poison`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.queue import QueueServiceClient

from guest_cli import EXIT_OK, EXIT_PARTIAL, EXIT_REMOTE, EXIT_USAGE
from shared import poison, storage
from shared.settings import SettingsError
from shared.wire import printable, printable_json

CONNECTION_SETTING = "AzureWebJobsStorage"
QUEUE_HELP = ("the poison queue, e.g. group-memberships-poison or guest-invitations-poison "
              "(the main queue's name is accepted too and mapped to its -poison queue)")


def register(subparsers: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("queue", metavar="QUEUE", help=QUEUE_HELP)
    common.add_argument("--connection-string", metavar="CS",
                        help=f"storage connection string (default: the app's {CONNECTION_SETTING} setting from the "
                             f"environment, as a connection string or identity-based {CONNECTION_SETTING}__accountName "
                             "with your Azure CLI login; UseDevelopmentStorage=true works for Azurite)")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")

    parser = subparsers.add_parser("poison", help="list or requeue the messages of a poison queue",
                                   description="Operate the poison queues of the storage account.")
    actions = parser.add_subparsers(title="actions", dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list", parents=[common], help="show each message's id, reason, attempts and age",
        description="Show the first messages of a poison queue (the Queue service peeks at most 32) without "
                    "changing them: id, reason (status, code, Graph's message), attempts and age.")
    listing.set_defaults(handler=run_list)
    again = actions.add_parser(
        "requeue", parents=[common], help="put messages back on the main queue",
        description="Send the original message back to the main queue (QUEUE without -poison) as plain JSON text, "
                    "then delete it from the poison queue. A crash in between leaves a duplicate, never a loss; "
                    "the app treats a duplicate as done (no second invitation, already a member is success).")
    chosen = again.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--id", dest="ids", action="append", metavar="ID",
                        help="a poison message id from `poison list` (repeat for several)")
    chosen.add_argument("--all", action="store_true", help="every message in the poison queue when the run starts")
    again.set_defaults(handler=run_requeue)


def _service(args: argparse.Namespace) -> QueueServiceClient | None:
    """The queue service from --connection-string, else from the app's storage setting in either form
    (connection string, or identity-based AzureWebJobsStorage__* with your `az login`): see shared/storage.py."""
    environ = {CONNECTION_SETTING: args.connection_string} if args.connection_string else os.environ
    try:
        return storage.queue_service(environ)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return None
    except ValueError as error:  # never echo the string itself: it holds the account key
        print(f"error: the storage connection string is malformed ({error})", file=sys.stderr)
        return None


def _queues(args: argparse.Namespace) -> tuple[str, str] | None:
    try:
        return poison.queue_pair(args.queue)
    except poison.QueueNameError as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def run_list(args: argparse.Namespace) -> int:
    names, service = _queues(args), _service(args)
    if names is None or service is None:
        return EXIT_USAGE
    try:
        listing = poison.list_poison(service.get_queue_client(names[1]))
    except AzureError as error:
        return _remote_failure(error)
    now = datetime.now(UTC)
    if args.json:
        print(printable_json(json.dumps({"queue": names[1], "mainQueue": names[0], "exists": listing.exists,
                                         "approximateCount": listing.approximate_count,
                                         "messages": [item.to_dict(now) for item in listing.messages]},
                                        ensure_ascii=False, indent=2)))
        return EXIT_OK
    if not listing.messages:
        print(f"{names[1]}: no messages" + ("" if listing.exists else " (the queue does not exist yet)"))
        return EXIT_OK
    print(f"{'ID':36}  {'ATTEMPTS':>8}  {'AGE':>7}  REASON")
    for item in listing.messages:
        attempts = "-" if item.attempts is None else str(item.attempts)
        # Everything in a poison message came from a queue anyone may write: escaped, never raw to the terminal.
        print(f"{printable(item.id):36}  {attempts:>8}  {_age(item.age_seconds(now)):>7}  {printable(item.reason)}")
    if listing.approximate_count > len(listing.messages):
        print(f"(showing {len(listing.messages)} of about {listing.approximate_count}; the Queue service peeks at "
              f"most {poison.PEEK_LIMIT}: requeue these to see the rest)")
    return EXIT_OK


def run_requeue(args: argparse.Namespace) -> int:
    names, service = _queues(args), _service(args)
    if names is None or service is None:
        return EXIT_USAGE
    main_name, poison_name = names
    try:
        result = poison.requeue(service.get_queue_client(poison_name), service.get_queue_client(main_name),
                                None if args.all else args.ids)
    except ResourceNotFoundError:
        print(f"error: the main queue {main_name} does not exist; nothing was changed", file=sys.stderr)
        return EXIT_REMOTE
    except AzureError as error:
        return _remote_failure(error)
    if args.json:
        print(json.dumps({"queue": poison_name, "mainQueue": main_name, "requeued": result.requeued,
                          "duplicated": result.duplicated, "missing": result.missing}, indent=2))
    else:
        _print_requeue(result, main_name, poison_name)
    return EXIT_OK if result.complete else EXIT_PARTIAL


def _print_requeue(result: poison.RequeueResult, main_name: str, poison_name: str) -> None:
    for message_id in result.requeued:
        print(f"requeued {printable(message_id)} -> {main_name}")
    for message_id in result.duplicated:
        print(f"warning: {message_id} was sent to {main_name} but could not be deleted from {poison_name} "
              "(another client took it): it is now on both queues", file=sys.stderr)
    for message_id in result.missing:
        print(f"warning: no message {message_id} in {poison_name}", file=sys.stderr)
    print(f"{len(result.requeued)} message(s) requeued to {main_name}")


def _remote_failure(error: AzureError) -> int:
    first_line = (str(error).splitlines() or [type(error).__name__])[0]
    print(f"error: the storage service failed: {first_line}", file=sys.stderr)
    return EXIT_REMOTE


_UNITS = (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1))


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = int(seconds)
    for big, big_size, small, small_size in _UNITS:
        if whole >= big_size:
            return f"{whole // big_size}{big}{whole % big_size // small_size}{small}"
    return f"{whole}s"
