"""The two CSV shapes ``cli.py bulk`` reads, turned into rows of raw cell text keyed by the invitation request's
field names (the HTTP body's names), each with the line a spreadsheet user sees it on.

- The Entra admin center's bulk-invite template, as downloaded and filled in (entra-docs
  external-id/tutorial-bulk-invite.md): a ``version:v1.0`` row, then column headings shaped
  ``<Item name> [PropertyName] <Required or blank>``, e.g. ``Email address to invite [inviteeEmail] Required``.
  Only the bracketed key is matched ("some older versions of the template might have slight variations").
  We also read an optional ``[groupIds]`` column, which the portal has no equivalent for.
- A plain header: ``email,displayName,groupIds,redirectUrl,sendInvitationMessage,message`` (the HTTP body's names).

Unknown columns are refused rather than ignored (the portal ignores them): a misspelt ``[groupID]`` column must not
silently leave everyone out of their groups. Blank lines and rows of empty cells (spreadsheets save those) are
skipped; a UTF-8 byte order mark (Excel's "CSV UTF-8") and UTF-16 files (Excel's "Unicode text" with commas) are read.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

PORTAL = "portal"
PLAIN = "plain"

# Bracketed keys of the portal template -> the invitation request's field names (shared/requests_model.py).
PORTAL_KEYS = {
    "inviteeemail": "email",
    "inviteename": "displayName",
    "inviteredirecturl": "redirectUrl",
    "sendemail": "sendInvitationMessage",
    "customizedmessagebody": "message",
    "groupids": "groupIds",
    # optional, as [groupIds]: when the group access ends (docs/lifecycle.md); the portal's template stays readable
    "accessuntil": "accessUntil",
    "accessdays": "accessDays",
}
PLAIN_COLUMNS = ("email", "displayName", "groupIds", "redirectUrl", "sendInvitationMessage", "message",
                 "accessUntil", "accessDays")
_BRACKETED = re.compile(r"\[([A-Za-z]+)\]")


@dataclass(frozen=True)
class RowProblem:
    """Something wrong at one line of the file; ``column`` is the heading as the file spells it ("" for the row)."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class CsvRow:
    line: int  # the line the record starts on, counting from 1 as a text editor or spreadsheet does
    cells: dict[str, str]  # field name -> cell text, stripped; only non-empty cells


@dataclass
class CsvFile:
    format: str  # PORTAL or PLAIN
    headings: dict[str, str]  # field name -> the column heading as written in the file (for messages)
    rows: list[CsvRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)  # problems with the file's shape (headings)

    def heading(self, field_name: str) -> str:
        return self.headings.get(field_name, field_name)


def read_csv_file(path: str | Path) -> CsvFile:
    """Read a bulk-invite CSV from disk (see the module's docstring for the formats)."""
    return parse_csv_text(decode_csv_bytes(Path(path).read_bytes()))


def decode_csv_bytes(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel's plain "CSV" on Windows saves in the ANSI code page; cp1252 reads every byte, so names survive.
        return data.decode("cp1252", errors="replace")


def parse_csv_text(text: str) -> CsvFile:
    """Parse the whole text; problems with the headings are in ``problems`` (and then ``rows`` is empty)."""
    records = _records(text)
    if not records:
        return CsvFile(PLAIN, {}, problems=[RowProblem(1, "", "the file is empty")])
    first_line, first = records[0]
    if first and first[0].strip().lower().startswith("version:"):
        return _portal_file(first_line, first, records[1:])
    return _plain_file(records)


def _records(text: str) -> list[tuple[int, list[str]]]:
    """Non-blank records with the line each starts on (a quoted cell may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    records = []
    previous_end = 0
    for cells in reader:
        start = previous_end + 1
        previous_end = reader.line_num
        if any(cell.strip() for cell in cells):
            records.append((start, cells))
    return records


def _portal_file(version_line: int, version_row: list[str], records: list[tuple[int, list[str]]]) -> CsvFile:
    version = version_row[0].strip()
    if version.lower() != "version:v1.0":
        problem = RowProblem(version_line, "", f"unknown template version {version!r}; expected version:v1.0")
        return CsvFile(PORTAL, {}, problems=[problem])
    if not records:
        return CsvFile(PORTAL, {}, problems=[RowProblem(version_line + 1, "", "the column headings row is missing")])
    header_line, header = records[0]
    mapping: dict[int, str] = {}
    headings: dict[str, str] = {}
    problems: list[RowProblem] = []
    for index, heading in enumerate(header):
        if not heading.strip():
            continue
        keys = _BRACKETED.findall(heading)
        name = PORTAL_KEYS.get(keys[-1].lower()) if keys else None
        if name is None:
            known = ", ".join(f"[{key}]" for key in ("inviteeEmail", "inviteRedirectURL", "sendEmail",
                                                     "customizedMessageBody", "inviteeName", "groupIds"))
            problems.append(RowProblem(header_line, heading.strip(), f"unknown column; the known keys are {known}"))
            continue
        _claim(name, index, heading.strip(), mapping, headings, header_line, problems)
    if "email" not in headings:
        problems.append(RowProblem(header_line, "", "no 'Email address to invite [inviteeEmail]' column"))
    return _file_with_rows(PORTAL, mapping, headings, records[1:], problems, header_line)


def _plain_file(records: list[tuple[int, list[str]]]) -> CsvFile:
    header_line, header = records[0]
    by_lower = {name.lower(): name for name in PLAIN_COLUMNS}
    mapping: dict[int, str] = {}
    headings: dict[str, str] = {}
    problems: list[RowProblem] = []
    for index, heading in enumerate(header):
        if not heading.strip():
            continue
        name = by_lower.get(heading.strip().lower())
        if name is None:
            problems.append(RowProblem(header_line, heading.strip(),
                                       f"unknown column; the known columns are {', '.join(PLAIN_COLUMNS)} "
                                       "(or use the portal's template, starting with a version:v1.0 row)"))
            continue
        _claim(name, index, heading.strip(), mapping, headings, header_line, problems)
    if "email" not in headings:
        problems.append(RowProblem(header_line, "", "no 'email' column: the first row must be the column headings"))
    return _file_with_rows(PLAIN, mapping, headings, records[1:], problems, header_line)


def _claim(name: str, index: int, heading: str, mapping: dict[int, str], headings: dict[str, str],
           line: int, problems: list[RowProblem]) -> None:
    if name in headings:
        problems.append(RowProblem(line, heading, f"the same column as {headings[name]!r}"))
        return
    mapping[index] = name
    headings[name] = heading


def _file_with_rows(kind: str, mapping: dict[int, str], headings: dict[str, str],
                    records: list[tuple[int, list[str]]], problems: list[RowProblem], header_line: int) -> CsvFile:
    if problems:
        return CsvFile(kind, headings, problems=problems)
    result = CsvFile(kind, headings)
    for line, cells in records:
        values = {name: cells[index].strip() for index, name in mapping.items()
                  if index < len(cells) and cells[index].strip()}
        extra = [cell for index, cell in enumerate(cells) if index not in mapping and cell.strip()]
        if extra:
            result.problems.append(RowProblem(line, "", f"{len(extra)} more cell(s) than there are column headings "
                                              "(an unquoted comma in a value? quote values that hold commas)"))
            continue
        result.rows.append(CsvRow(line, values))
    if not records:
        result.problems.append(RowProblem(header_line + 1, "", "no rows after the column headings"))
    return result
