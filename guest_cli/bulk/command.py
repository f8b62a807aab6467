"""``python cli.py bulk FILE.csv|- [--group ID …] [--dry-run] [--concurrency N] [--results OUT.csv] [--encoding CP]
[--json]``: onboard everyone in a CSV (the Entra portal's bulk-invite template as is, or a plain header; ``-`` reads
standard input), at the pace Graph allows, with a resumable results file. Every row is validated (and checked
against the policy) before anything is sent.

Exit codes: 0 every row done; 1 some rows failed (see the results file); 2 bad file, rows, arguments or settings
(nothing was sent); 3 no credential for Graph; 130 interrupted (re-run the same command to resume).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

from guest_cli import EXIT_OK, EXIT_PARTIAL, EXIT_REMOTE, EXIT_USAGE, app_records, settings_refused
from guest_cli.bulk.bulk_run import BulkRun, RunSummary
from guest_cli.bulk.csv_formats import CsvEncodingError, CsvFile, RowProblem, decode_csv_bytes, parse_csv_text
from guest_cli.bulk.paced_transport import paced_session
from guest_cli.bulk.progress import ProgressDisplay
from guest_cli.bulk.rate_limit import RateBudget, RateLimiter, graph_budgets
from guest_cli.bulk.results import FAILED, ResultsFile, ResultsFileError, default_results_path
from guest_cli.bulk.row_requests import BulkRow, validate_rows
from guest_cli.bulk.status_records import RowStatus
from guest_cli.demo_tenant import demo_help, embedded_tenant_if_unconfigured, tenant_configured
from shared import app_context
from shared.credentials import CredentialError, build_token_provider
from shared.graph import GraphClient
from shared.policy import check_policy
from shared.requests_model import validate_invitation
from shared.settings import Settings, SettingsError

EXIT_INTERRUPTED = 130
MAX_CONCURRENCY = 32
MAX_PROBLEMS_SHOWN = 200
STDIN = "-"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bulk", help="invite everyone in a CSV (the portal's bulk-invite template or a plain one), resumably",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Invite every row of FILE.csv and add them to their groups. Reads the Entra admin center's "
                    "bulk-invite template as is (version:v1.0 row, [inviteeEmail] [inviteRedirectURL] [sendEmail] "
                    "[customizedMessageBody] [inviteeName] columns, plus an optional [groupIds] column), or a plain "
                    "header email,displayName,groupIds,redirectUrl,sendInvitationMessage,message. All rows are "
                    "validated first; the results file records each row as it finishes, and running the same "
                    "command again skips the rows already done. See docs/bulk.md.",
        epilog=demo_help())
    parser.add_argument("file", metavar="FILE.csv", help="the CSV to read; - reads standard input (then --results "
                                                        "is required, to resume)")
    parser.add_argument("--group", dest="groups", action="append", default=[], metavar="ID",
                        help="add everyone to this group too (repeat for several)")
    parser.add_argument("--dry-run", action="store_true", help="validate every row and stop; nothing is sent")
    parser.add_argument("--concurrency", type=int, default=8, metavar="N",
                        help=f"rows in flight at once (1-{MAX_CONCURRENCY}, default 8); the pace stays within "
                             "Graph's limits whatever N is")
    parser.add_argument("--results", metavar="OUT.csv",
                        help="the results file (default: FILE.results.csv beside FILE.csv; on the demo tenant a new "
                             "temporary folder); reused to resume")
    parser.add_argument("--encoding", metavar="CODEPAGE",
                        help="the code page a legacy CSV was saved in (e.g. cp1252, cp1250, cp932); default: UTF-8, "
                             "or UTF-16 when the file starts with its byte order mark")
    parser.add_argument("--json", action="store_true",
                        help="print the summary (or the problems found) as one JSON object on standard output")
    parser.add_argument("--verbose", action="store_true", help="print the app's structured log records")
    parser.set_defaults(handler=run_bulk_command)


@dataclass
class BulkOptions:
    groups: list[str] = field(default_factory=list)
    dry_run: bool = False
    concurrency: int = 8
    results: str | None = None
    budgets: dict[str, RateBudget] | None = None  # None: Graph's documented budgets (rate_limit.graph_budgets)
    lag_window: float = 900.0
    tty: bool | None = None  # progress display; None: ask the stream
    encoding: str | None = None  # None: UTF-8, or UTF-16 by its byte order mark (csv_formats.decode_csv_bytes)
    json: bool = False  # the summary as JSON on ``out``
    stdin: BinaryIO | None = None  # what FILE "-" reads (None: the process's standard input)


def run_bulk_command(args: argparse.Namespace) -> int:
    options = BulkOptions(groups=args.groups, dry_run=args.dry_run, concurrency=args.concurrency,
                          results=args.results, encoding=args.encoding, json=args.json)
    with app_records(args.verbose):
        return run_bulk(args.file, options, sys.stdout, sys.stderr)


def run_bulk(path: str | Path, options: BulkOptions, out: TextIO, err: TextIO) -> int:
    """The whole command: read, validate, (start the demo tenant), check policy, run, report. Returns the exit code."""
    if not 1 <= options.concurrency <= MAX_CONCURRENCY:
        print(f"error: --concurrency must be between 1 and {MAX_CONCURRENCY}", file=err)
        return EXIT_USAGE
    if not _groups_valid(options.groups, err):
        return EXIT_USAGE
    from_stdin = str(path) == STDIN
    if from_stdin and not options.results and not options.dry_run and not _demo_tenant_expected():
        print("error: --results: required when the CSV comes from standard input (the results file is what a "
              "second run resumes from)", file=err)
        return EXIT_USAGE
    try:
        data = (options.stdin or sys.stdin.buffer).read() if from_stdin else Path(path).read_bytes()
        csv_file = parse_csv_text(decode_csv_bytes(data, options.encoding))
    except OSError as error:
        print(f"error: cannot read {path}: {error.strerror or error}", file=err)
        return EXIT_USAGE
    except CsvEncodingError as error:
        print(f"error: {'standard input' if from_stdin else path}: {error}", file=err)
        return EXIT_USAGE
    shown = "standard input" if from_stdin else str(path)
    rows, problems = validate_rows(csv_file, options.groups)
    with embedded_tenant_if_unconfigured(err) as demo:
        try:
            settings = app_context.current().settings()
        except SettingsError as error:
            return settings_refused(error.problems, err)
        problems = sorted([*problems, *_policy_problems(rows, settings, csv_file)],
                          key=lambda problem: problem.line)
        if problems:
            _report_problems(shown, problems, len(csv_file.rows), err)
            if options.json:
                _print_json({"file": shown, "sent": False, "problems": [
                    {"line": p.line, "column": p.column, "message": p.message} for p in problems]}, out)
            return EXIT_USAGE
        groups = sorted({group for row in rows for group in row.request.group_ids})
        # With --json, stdout carries only the JSON object: the human lines go to stderr.
        say = err if options.json else out
        say.write(f"{shown}: {len(rows)} rows valid ({csv_file.format} format), {len(groups)} distinct groups.\n")
        if options.dry_run:
            say.write("Dry run: nothing was sent.\n")
            if options.json:
                _print_json({"file": shown, "sent": False, "dryRun": True, "rows": len(rows),
                             "format": csv_file.format, "groups": len(groups)}, out)
            return EXIT_OK
        code = _run(path, rows, settings, options, demo is not None, out, err)
        if demo is not None and code in (EXIT_OK, EXIT_PARTIAL):
            say.write(f"(demo tenant: {sum(len(demo.sim.graph.members_of(g.id)) for g in demo.groups)} "
                      "memberships in its groups now)\n")
        return code


def _demo_tenant_expected() -> bool:
    """Whether this run will use the embedded demo tenant (no Graph configured), whose results go to a temporary
    folder: asked before reading standard input, so a refusal comes before the input is consumed."""
    return not tenant_configured()


def _print_json(document: dict, out: TextIO) -> None:
    out.write(json.dumps(document, ensure_ascii=False) + "\n")
    out.flush()


def _groups_valid(groups: list[str], err: TextIO) -> bool:
    # The request model's own rule for group ids, checked once here rather than on every row.
    _, errors = validate_invitation({"email": "check@example.com", "groupIds": groups})
    for error in errors:
        index = error.field.partition("[")[2].rstrip("]")
        shown = f" {groups[int(index)]!r}" if index.isdigit() else ""
        print(f"error: --group{shown}: {error.message}", file=err)
    return not errors


def _policy_problems(rows: list[BulkRow], settings: Settings, csv_file: CsvFile) -> list[RowProblem]:
    problems = []
    for row in rows:
        refusal = check_policy(settings, row.request.email, row.request.group_ids)
        if refusal is None:
            continue
        governing = ", ".join(refusal.extensions.get("settings", []))
        for error in refusal.errors:
            name = error.field.partition("[")[0]
            problems.append(RowProblem(row.line, csv_file.heading(name), f"{error.message} ({governing})"))
    return problems


def _report_problems(path: str | Path, problems: list[RowProblem], rows: int, err: TextIO) -> None:
    bad_lines = len({problem.line for problem in problems})
    print(f"{path}: {len(problems)} problem(s) on {bad_lines} line(s) of {rows} row(s); nothing was sent. "
          "Fix them and run again:", file=err)
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        print(f"  {problem}", file=err)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        print(f"  … and {len(problems) - MAX_PROBLEMS_SHOWN} more", file=err)


def _run(path: str | Path, rows: list[BulkRow], settings: Settings, options: BulkOptions, demo: bool,
         out: TextIO, err: TextIO) -> int:
    say = err if options.json else out  # with --json, stdout carries only the JSON object
    named = "stdin.csv" if str(path) == STDIN else path
    results = ResultsFile(options.results or default_results_path(named, demo=demo))
    try:
        history = results.load()
    except ResultsFileError as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    if demo and not options.results:
        say.write(f"Demo tenant: results go to {results.path} (a temporary folder; nothing is written beside "
                  f"{Path(named).name}).\n")
    if demo and history:
        # Each demo run is a fresh simulated tenant: an earlier run's users and results mean nothing in it.
        say.write(f"Demo tenant: starting {results.path} afresh (a new simulated tenant each run).\n")
        results.discard()
        history = {}
    earlier = sum(1 for row in rows if row.key in history and history[row.key].done)
    if earlier:
        say.write(f"Resuming with {results.path}: {earlier} row(s) done earlier are skipped.\n")
    limiter = RateLimiter(options.budgets if options.budgets is not None else graph_budgets())
    session, adapter = paced_session(limiter, pool_size=options.concurrency + 4)
    try:
        graph = GraphClient(settings.graph_endpoint, build_token_provider(settings), session=session)
    except CredentialError as error:
        print(f"error: could not set up the credential for Graph: {error.message}", file=err)
        return EXIT_REMOTE
    records = RowStatus.connect(os.environ, err, demo=demo)
    progress = ProgressDisplay(len(rows), err, tty=options.tty)
    run = BulkRun(settings, graph, limiter, results, progress, concurrency=options.concurrency,
                  lag_window=options.lag_window, records=records)
    try:
        with results:
            summary = run.run(rows, history)
    except KeyboardInterrupt:
        progress.close()
        print(f"interrupted: every finished row is in {results.path}; run the same command again to resume.",
              file=err)
        return EXIT_INTERRUPTED
    finally:
        graph.close()
    progress.close()
    results.compact(row.key for row in rows)
    _print_summary(summary, run, adapter.throttled, results, say)
    if options.json:
        _print_json({"file": "standard input" if str(path) == STDIN else str(path), "sent": True,
                     "rows": summary.rows, "done": summary.done, "invited": summary.invited, "failed": summary.failed,
                     "skipped": summary.skipped, "results": str(results.path),
                     "graph": {"membershipBatches": run.batcher.batches, "membershipPatches": run.batcher.binds,
                               "patchFallbacks": run.batcher.bind_fallbacks,
                               "learnedLagSeconds": round(run.batcher.lag.delay, 2),
                               "throttled": adapter.throttled + run.batcher.throttled,
                               "retryAfterPauses": run.limiter.pauses},
                     "statusRecords": {"written": records.enabled, "rows": records.rows,
                                       "storageRequests": records.requests,
                                       "writesNotDone": records.failed_writes + records.skipped_writes}}, out)
    return EXIT_OK if summary.failed == 0 else EXIT_PARTIAL


def _print_summary(summary: RunSummary, run: BulkRun, throttled: int, results: ResultsFile, out: TextIO) -> None:
    out.write(f"{summary.rows} rows: {summary.done} done ({summary.invited} invited by this run), "
              f"{summary.failed} failed, {summary.skipped} skipped (done earlier).\n")
    batcher = run.batcher
    out.write(f"Graph: {batcher.binds} PATCH members@odata.bind requests ({batcher.bind_fallbacks} sent again as "
              f"single adds), {batcher.batches} $batch requests of single adds, {throttled + batcher.throttled} "
              f"throttled answers (429), {run.limiter.pauses} pauses for Retry-After; new guests' first writes "
              f"waited {batcher.lag.delay:.1f} s after their invitation (learned from {batcher.lag.met} lag "
              "answers).\n")
    out.write(f"Results: {results.path}\n")
    if run.records.enabled:
        out.write(run.records.summary() + "\n")
        # A failed row is the likeliest to be looked up: the example is the first one with a record (its person was
        # found or invited: a user id), else any row with one.
        rows = sorted(results.latest.values(), key=lambda result: (result.status != FAILED, result.line))
        example = next((result.request_id for result in rows if result.request_id and result.user_id), "ID")
        out.write(f"Look a row up by the results file's requestId column: python cli.py status {example}\n")
    if summary.failed:
        out.write("Failed rows are listed with their reason in the results file; fix the cause and run the same "
                  "command again: only rows not done are retried.\n")
