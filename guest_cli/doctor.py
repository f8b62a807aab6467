"""``python cli.py doctor [--json] [--settings-file PATH | --no-settings-file]``: check the settings, the Graph
token and its permissions, the allowed groups and the queues, and print what is missing with the exact fix
(the same report as ``GET /api/health``; the checks are in :mod:`shared.diagnostics`).

Settings come from the environment, plus the ``Values`` of ``local.settings.json`` in the current directory for
any setting the environment does not set (as ``func start`` makes them the app's environment), so the doctor
checks what the app would run with locally. Where the credential and the token go, and whom the doctor trusts
(:data:`TRUST_SETTINGS`: the authority host, the Graph endpoint, the CA bundle, the managed identity endpoint and
header), come from a settings file only when it is named with ``--settings-file PATH``: a ``local.settings.json``
planted in whatever directory the doctor runs in must not receive the client secret or a token.
``REQUESTS_CA_BUNDLE``, ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` from a named file are also put into the
process environment for the run (requests, MSAL and azure-identity read them there, not from the settings the
doctor passes on) and taken out again afterwards. Exit code 0 only when every check passes; 1 when the report
lists a problem; 2 when the settings file cannot be read.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TextIO

from guest_cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE
from shared.diagnostics import diagnose

SETTINGS_FILE = "local.settings.json"
# Read from the process environment by the libraries themselves (requests' merge_environment_settings; azure-identity's
# and MSAL's managed identity source detection), so a value that only the settings mapping holds has no effect.
LIBRARY_ENVIRONMENT = ("REQUESTS_CA_BUNDLE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER")
# Endpoints and trust: taken from an explicitly named settings file only, never from ./local.settings.json implicitly.
TRUST_SETTINGS = ("AZURE_AUTHORITY_HOST", "GRAPH_ENDPOINT", *LIBRARY_ENVIRONMENT)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check settings, Graph permissions, groups and queues; print the fixes",
        description="Check everything the app needs (settings, a Graph token and its app roles, a Graph read, the "
                    "allowed groups, the queues, invitations blocked by tenant policy) and print each problem with "
                    "the exact command or setting that fixes it. Read-only: creates, sends and changes nothing.",
        epilog=f"Settings: the environment, then the Values of ./{SETTINGS_FILE} for those not set (endpoints and "
               "trust only from --settings-file PATH). Exit codes: 0 all "
               "checks passed, 1 a check failed (see the report), 2 the settings file cannot be read.")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (what GET /api/health answers)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--settings-file", metavar="PATH", type=Path,
                        help=f"read app settings from this local.settings.json, endpoints and trust included (default: "
                             f"./{SETTINGS_FILE} if present, without {', '.join(TRUST_SETTINGS)})")
    source.add_argument("--no-settings-file", action="store_true", help="use the environment only")
    parser.set_defaults(handler=run_doctor)


def run_doctor(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        environ = doctor_environment(args, err)
    except (OSError, ValueError) as error:
        print(f"error: cannot read the settings file: {error}", file=err)
        return EXIT_USAGE
    with library_environment(environ, err):
        report = diagnose(environ)
    print(report.to_json() if args.json else report.to_text(), file=out)
    return EXIT_OK if report.ok else EXIT_PARTIAL


def doctor_environment(args: argparse.Namespace, err: TextIO) -> dict[str, str]:
    """The environment, completed by the settings file's Values (the environment wins, as it should for a
    deployed app whose settings are environment variables)."""
    environ = dict(os.environ)
    if args.no_settings_file:
        return environ
    path = args.settings_file or Path(SETTINGS_FILE)
    if args.settings_file is None and not path.is_file():
        return environ
    values = read_settings_values(path)
    if args.settings_file is None:
        ignored = sorted(name for name in TRUST_SETTINGS if values.get(name) and not environ.get(name))
        for name in TRUST_SETTINGS:
            values.pop(name, None)
        if ignored:
            print(f"doctor: ignored {', '.join(ignored)} from ./{SETTINGS_FILE} (endpoints and trust are taken from "
                  "a settings file only with --settings-file PATH)", file=err)
    added = [name for name, value in values.items() if value and not environ.get(name)]
    environ.update({name: values[name] for name in added})
    print(f"doctor: {len(added)} setting(s) from {path} (the environment's own values win)", file=err)
    return environ


@contextlib.contextmanager
def library_environment(environ: Mapping[str, str], err: TextIO) -> Iterator[None]:
    """Put the LIBRARY_ENVIRONMENT variables that ``environ`` has and ``os.environ`` lacks into ``os.environ`` for
    the block (as ``func start`` would), then take them out again, so an in-process run leaks nothing."""
    taken = [name for name in LIBRARY_ENVIRONMENT if environ.get(name) and not os.environ.get(name)]
    if taken:
        print(f"doctor: {', '.join(taken)} from the settings file into the process environment for this run",
              file=err)  # names only: IDENTITY_HEADER is a secret
    saved = {name: os.environ.get(name) for name in taken}
    os.environ.update({name: environ[name] for name in taken})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def read_settings_values(path: Path) -> dict[str, str]:
    """The ``Values`` object of a local.settings.json; ValueError when it is not one."""
    data = json.loads(path.read_text(encoding="utf-8"))
    values = data.get("Values") if isinstance(data, dict) else None
    if not isinstance(values, dict):
        raise ValueError(f"{path} has no \"Values\" object")
    return {str(name): str(value) for name, value in values.items() if value is not None}
