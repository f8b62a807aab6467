"""CSV rows -> invitation requests, through the same rules as the HTTP API (shared/requests_model.py).

Each row's cells become the JSON body the HTTP API would take (``groupIds`` split, booleans parsed), then
:func:`~shared.requests_model.validate_invitation` decides; its field errors are reported against the file's own
column headings and line numbers. Every row is checked before anything is sent, so a file is all-or-nothing at
validation time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.requests_model import InvitationRequest, validate_invitation

from .csv_formats import CsvFile, CsvRow, RowProblem

_GROUP_SEPARATORS = re.compile(r"[;,\s|]+")
_CELL_TRUE = {"true", "yes", "y", "1"}
_CELL_FALSE = {"false", "no", "n", "0"}


@dataclass(frozen=True)
class BulkRow:
    line: int
    request: InvitationRequest

    @property
    def key(self) -> tuple[int, str]:
        """What the results file keys a row by (resume): its line and its address in normal form."""
        return self.line, self.request.email.casefold()


def validate_rows(csv_file: CsvFile, extra_group_ids: Iterable[str] = ()) -> tuple[list[BulkRow], list[RowProblem]]:
    """Every valid row as a request, and every problem in the file (headings first, then row by row)."""
    problems = list(csv_file.problems)
    rows: list[BulkRow] = []
    first_line_of: dict[str, int] = {}
    extra = list(extra_group_ids)
    for row in csv_file.rows:
        request, row_problems = _validate_row(csv_file, row, extra)
        if request is not None:
            earlier = first_line_of.setdefault(request.email.casefold(), row.line)
            if earlier != row.line:
                # Two workers on one address could both invite it before either sees the other's user.
                row_problems = [RowProblem(row.line, csv_file.heading("email"), f"the same address as line {earlier}; "
                                           "merge the two rows (groupIds can hold several ids separated by ';')")]
        if row_problems:
            problems.extend(row_problems)
        elif request is not None:
            rows.append(BulkRow(row.line, request))
    problems.sort(key=lambda problem: problem.line)
    return rows, problems


def row_body(row: CsvRow, extra_group_ids: list[str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The HTTP body for one row, and (field, message) for cells that are not even the right shape."""
    body: dict[str, Any] = {}
    shape_problems: list[tuple[str, str]] = []
    for name, text in row.cells.items():
        if name == "groupIds":
            body[name] = [part for part in _GROUP_SEPARATORS.split(text) if part]
        elif name == "sendInvitationMessage":
            if text.lower() in _CELL_TRUE | _CELL_FALSE:
                body[name] = text.lower() in _CELL_TRUE
            else:
                shape_problems.append((name, f"must be true or false, not {text!r}"))
        elif name == "accessDays":
            if text.isascii() and text.isdigit() and len(text) <= 5:
                body[name] = int(text)
            else:
                shape_problems.append((name, f"must be a whole number of days, not {text[:20]!r}"))
        else:
            body[name] = text
    if extra_group_ids:
        body["groupIds"] = [*body.get("groupIds", []), *extra_group_ids]
    return body, shape_problems


def _validate_row(csv_file: CsvFile, row: CsvRow, extra: list[str]) -> tuple[InvitationRequest | None,
                                                                               list[RowProblem]]:
    body, shape_problems = row_body(row, extra)
    request, errors = validate_invitation(body)
    problems = [RowProblem(row.line, csv_file.heading(name), message) for name, message in shape_problems]
    for error in errors:
        name, _, rest = error.field.partition("[")
        column = csv_file.heading(name)
        if rest and name == "groupIds":
            index = int(rest.rstrip("]"))
            ids = body.get("groupIds", [])
            source = "from --group" if index >= len(ids) - len(extra) else column
            problems.append(RowProblem(row.line, source, f"{ids[index]!r} {error.message}"))
        else:
            problems.append(RowProblem(row.line, column, error.message))
    return (request if not problems else None), problems
