"""``python -m devhost``: run the function app locally without Core Tools, through the real Python worker.

Reads ``local.settings.json``'s ``Values`` into the environment as Core Tools does (a variable already set and not
empty wins, with Core Tools' "Skipping ..." warning), loads the app through
the worker, serves the HTTP functions on http://localhost:7071/api/..., polls the queue-triggered functions' queues
on the ``AzureWebJobsStorage`` account (Azurite: ``UseDevelopmentStorage=true``) with host.json's queue settings,
and fires the timer functions on their schedules. Ctrl-C stops it. docs/local-host.md says what differs from
``func start``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import sys
import threading
from pathlib import Path

from devhost.http_server import HttpServer
from devhost.queues import QueueRunner
from devhost.schedule import next_occurrence
from devhost.worker import Worker, WorkerRefused

log = logging.getLogger("devhost")


def load_settings(path: Path) -> list[str]:
    """Put the file's ``Values`` into the environment where not already set (or set empty), as Core Tools does;
    returns the names it set."""
    if not path.is_file():
        return []
    values = json.loads(path.read_text(encoding="utf-8")).get("Values") or {}
    applied = []
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        if os.environ.get(name):
            print(f"Skipping '{name}' from local settings as it's already defined in current environment variables.")
            continue
        os.environ[name] = value
        applied.append(name)
    return applied


def _poll(runner: QueueRunner, name: str, stop: threading.Event) -> None:
    """Poll one queue like the host: at once while messages come, backing off to maxPollingInterval when idle."""
    wait = 0.1
    while not stop.is_set():
        try:
            ran = runner.run_once(name)
        except Exception as error:  # storage unreachable: say so, keep polling (the host does the same)
            log.warning("%s: polling failed: %s", name, error)
            ran = []
        for invocation in ran:
            outcome = "failed: " + (invocation.error_message or "")[:300] if invocation.error_message else "done"
            log.info("%s %s", name, outcome)
        wait = 0.1 if ran else min(wait * 2, runner.settings.max_polling_interval)
        stop.wait(wait)


def _timer(worker: Worker, name: str, schedule: str, stop: threading.Event) -> None:
    last: dt.datetime | None = None
    while not stop.is_set():
        now = dt.datetime.now(dt.UTC)
        due = next_occurrence(schedule, now)
        log.info("%s: next run %s", name, due.isoformat())
        if stop.wait((due - now).total_seconds()):
            return
        following = next_occurrence(schedule, due)
        invocation = worker.timer(name, last=last.isoformat() if last else None, next_=following.isoformat())
        last = due
        log.info("%s %s", name, "failed: " + invocation.error_message[:300] if invocation.error_message else "done")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__.splitlines()[0])
    parser.add_argument("--settings", type=Path, default=Path("local.settings.json"),
                        help="local.settings.json whose Values become app settings (default: ./local.settings.json)")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--key", help="the function key callers must present (default: a new one, printed)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)  # storage SDK request logs
    applied = load_settings(args.settings)
    print(f"settings: {len(applied)} from {args.settings}" if applied else f"settings: none read from {args.settings}")
    try:
        worker = Worker()
    except WorkerRefused as refused:
        print(refused, file=sys.stderr)
        return 2
    connection = os.environ.get("AzureWebJobsStorage")  # noqa: SIM112 (the host's own name)
    if not connection:
        print("AzureWebJobsStorage is not set (local.settings.json Values): the queue triggers need it",
              file=sys.stderr)
        return 2
    runner = QueueRunner(connection, worker)
    server = HttpServer(worker, send=runner.send, host="127.0.0.1", port=args.port, key=args.key)
    stop = threading.Event()
    for function in worker.functions.values():
        trigger = function.trigger()
        if trigger["type"] == "httpTrigger":
            level = trigger.get("authLevel", "FUNCTION").lower()
            print(f"  {function.name}: {','.join(trigger['methods'])} {server.url(trigger['route'], with_key=False)}"
                  f" ({level})")
        elif trigger["type"] == "queueTrigger":
            print(f"  {function.name}: queue {trigger['queueName']}")
            threading.Thread(target=_poll, args=(runner, function.name, stop), daemon=True).start()
        elif trigger["type"] == "timerTrigger":
            print(f"  {function.name}: timer {trigger['schedule']} (UTC)")
            threading.Thread(target=_timer, args=(worker, function.name, trigger["schedule"], stop),
                             daemon=True).start()
    if args.key is None:
        print(f"function key (for ?code= or x-functions-key): {server.key}")
    print("ready; Ctrl-C stops", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    stop.set()
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
