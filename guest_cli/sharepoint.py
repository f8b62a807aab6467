"""``python cli.py sharepoint provision|subscribe [--json]``: create the "Guest requests" list on the site (idempotent),
and create or renew its webhook subscription. Settings come from the environment, as for the app (see
docs/sharepoint.md). The logic is in :mod:`shared.sharepoint`."""

from __future__ import annotations

import argparse
import json
import sys

from azure.core.exceptions import AzureError

from guest_cli import EXIT_OK, EXIT_REMOTE, EXIT_USAGE
from shared import app_context
from shared.credentials import CredentialError
from shared.graph import GraphError
from shared.settings import SettingsError
from shared.sharepoint import config
from shared.sharepoint.lists import LIST_TITLE, SiteLists
from shared.sharepoint.subscriptions import SharePointRestError, ensure_subscription


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sharepoint", help="provision the Guest requests list, subscribe its webhook",
                                   description="Operate the SharePoint list webhooks (docs/sharepoint.md).")
    actions = parser.add_subparsers(title="actions", dest="action", metavar="ACTION", required=True)
    provision = actions.add_parser(
        "provision", help="create the list (and any missing column) on SHAREPOINT_SITE_URL",
        description="Create the list with its columns through Microsoft Graph, or add the columns an existing "
                    "list of that title lacks. Prints the list id to set as SHAREPOINT_LIST_ID.")
    provision.add_argument("--title", default=LIST_TITLE, help=f"the list's title (default: {LIST_TITLE!r})")
    provision.add_argument("--json", action="store_true", help="print the outcome as one JSON object")
    provision.set_defaults(handler=run_provision)
    subscribe = actions.add_parser(
        "subscribe", help="create or renew the list's webhook subscription",
        description="Create the subscription to SHAREPOINT_NOTIFICATION_URL (SharePoint validates the URL at "
                    "once, so the function app must be running), renew it when fewer than 30 days remain, or "
                    "recreate it if it is gone. Needs a certificate or managed identity: SharePoint REST refuses "
                    "client-secret tokens.")
    subscribe.add_argument("--json", action="store_true", help="print the outcome as one JSON object")
    subscribe.set_defaults(handler=run_subscribe)


def run_provision(args: argparse.Namespace) -> int:
    try:
        settings = app_context.current().settings()
        lists = SiteLists(app_context.current().graph())
        site_id = lists.site_id(config.site_address(settings))
        found, added, created = lists.provision(site_id, args.title)
    except (SettingsError, CredentialError, GraphError) as error:
        return _failed(error)
    if getattr(args, "json", False):
        print(json.dumps({"title": args.title, "listId": found["id"], "created": bool(created),
                          "columnsAdded": list(added or ())}))
        return EXIT_OK
    if created:
        print(f"list {args.title!r} created on {settings.sharepoint_site_url}")
    else:
        change = f"columns added: {', '.join(added)}" if added else "nothing to change"
        print(f"list {args.title!r} exists; {change}")
    print(f"SHAREPOINT_LIST_ID={found['id']}")
    return EXIT_OK


def run_subscribe(args: argparse.Namespace) -> int:
    try:
        result = ensure_subscription()
    except (SettingsError, CredentialError, GraphError, SharePointRestError, AzureError) as error:
        return _failed(error)
    if getattr(args, "json", False):
        print(json.dumps({"subscriptionId": result.subscription_id, "action": result.action,
                          "expiration": result.expiration}))
        return EXIT_OK
    print(f"subscription {result.subscription_id} {result.action}; expires {result.expiration}")
    return EXIT_OK


def _failed(error: Exception) -> int:
    if isinstance(error, SettingsError):
        for name, problem in error.problems.items():
            print(f"error: {name}: {problem}", file=sys.stderr)
        return EXIT_USAGE
    print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
    return EXIT_REMOTE
