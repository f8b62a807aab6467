"""The command-line door: ``python cli.py <command> …`` in a clone, ``guest-onboarding <command> …`` once installed
(``pipx install .``: pyproject.toml). Each command is a module here exposing
``register(subparsers)``, which adds its parser and sets ``handler`` (``args -> exit code``) as a default.

Exit codes shared by every command: 0 done, 1 done in part (see the output), 2 usage or configuration error,
3 a remote service (storage, Graph) failed or refused.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import sys
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from shared.logging_setup import LOGGER_NAME

# One line per command module; each is imported only to register its parser.
COMMAND_MODULES: tuple[str, ...] = (
    "guest_cli.poison",
    "guest_cli.invite",
    "guest_cli.bulk.command",
    "guest_cli.sharepoint",
    "guest_cli.doctor",
    "guest_cli.grants",
    "guest_cli.status",
)

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_REMOTE = 0, 1, 2, 3
DISTRIBUTION = "guest-onboarding"  # pyproject.toml's [project] name, and the installed command's name


def version() -> str:
    """The version pyproject.toml gives (its one home): from the installed package's metadata, or, when run from a
    clone that was not installed, from pyproject.toml beside this package."""
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if pyproject.is_file():  # a clone: its own pyproject, even if another version is installed elsewhere
        try:
            return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
        except (OSError, ValueError, KeyError):
            pass
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@contextmanager
def app_records(verbose: bool) -> Iterator[None]:
    """For one command's run: the app's structured records at INFO with --verbose, else only CRITICAL ones (the
    command prints its own report). The logger's level is restored afterwards, so the process is not left silenced."""
    logger = logging.getLogger(LOGGER_NAME)
    saved = logger.level
    logger.setLevel(logging.INFO if verbose else logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(saved)


def settings_refused(problems: Mapping[str, str], err: TextIO) -> int:
    """Name each bad setting (SettingsError.problems) on ``err``; the usage/configuration exit code."""
    for name, message in problems.items():
        print(f"error: setting {name}: {message}", file=err)
    return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    invoked = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    parser = argparse.ArgumentParser(
        prog=DISTRIBUTION if invoked.startswith(DISTRIBUTION) else "python cli.py",
        description="Guest onboarding for Microsoft 365: operator and bulk tools.",
        epilog="Exit codes: 0 done, 1 done in part, 2 usage or configuration error, 3 a remote service failed.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process arguments), run the chosen command, return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
