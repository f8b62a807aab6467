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
skipped.

Encodings, as Excel saves them: UTF-8 with or without a byte order mark ("CSV UTF-8"), and UTF-16 with its byte
order mark ("Unicode text", tab-separated) are read. A file that is not valid UTF-8 was saved in a legacy code page
(Excel's plain "CSV" on Windows: cp1252, cp1250, cp932…); guessing which one garbles names (cp1250's "ł" read as
cp1252 is "³"), so it is refused with the fix, unless the caller names the code page (``--encoding``).
Tab-separated text is told from comma-separated by the headings row: tabs and no commas there means tabs.
"""

from __future__ import annotations

import codecs
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
# The portal template's examples row ("a row of examples of acceptable values for each column. You must remove the
# examples row", tutorial-bulk-invite.md): its cells start with "Example". Matched on that word, not on exact text.
# "Example:", "Example" or "Examples …", never an address such as example@fabrikam.com.
_EXAMPLE_CELL = re.compile(r"examples?(?:\s*:|\s|$)", re.IGNORECASE)
MAX_SHOWN_BYTES = 8  # how many undecodable bytes an error message shows


class CsvEncodingError(ValueError):
    """The file's bytes are not text in the encoding it was read with; the message says where and how to fix it."""


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


def read_csv_file(path: str | Path, encoding: str | None = None) -> CsvFile:
    """Read a bulk-invite CSV from disk (see the module's docstring for the formats and encodings)."""
    return parse_csv_text(decode_csv_bytes(Path(path).read_bytes(), encoding))


def decode_csv_bytes(data: bytes, encoding: str | None = None) -> str:
    """The file's text. With ``encoding`` (a Python codec name such as cp1252), exactly that; otherwise UTF-16 when
    it starts with a UTF-16 byte order mark, else UTF-8 (a UTF-8 byte order mark dropped). Raises CsvEncodingError
    (naming the line, the bytes and the fix) for bytes that are not text in that encoding."""
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding)
        except LookupError:
            raise CsvEncodingError(f"unknown encoding {encoding[:40]!r}; e.g. cp1252 (Western Europe), cp1250 "
                                   "(Central Europe), cp932 (Japanese), utf-8") from None
        name = "utf-8-sig" if codec.name == "utf-8" else codec.name
        try:
            return data.decode(name)
        except UnicodeDecodeError as error:
            raise CsvEncodingError(f"{_where(data, error)} is not {encoding[:40]} text ({_shown(data, error)}); "
                                   "check the encoding the file was saved in") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise CsvEncodingError(f"the file starts as UTF-16 but {_where(data, error)} is not UTF-16 text "
                                   f"({_shown(data, error)})") from None
    if b"\x00" in data[:4096]:
        # No text file holds NUL characters: UTF-16 without its byte order mark (every other byte of ASCII is 0),
        # which UTF-8 would "read" as names with NULs between the letters.
        raise CsvEncodingError("the file holds NUL bytes: it looks like UTF-16 without a byte order mark; save it "
                               "as \"CSV UTF-8 (Comma delimited)\", or pass --encoding utf-16-le (or utf-16-be)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CsvEncodingError(
            f"{_where(data, error)} is not UTF-8 ({_shown(data, error)}): the file was saved in a legacy code page "
            "(Excel's plain \"CSV\"), which would garble names. In Excel, Save As \"CSV UTF-8 (Comma delimited)\" "
            "and run again, or name the code page it was saved in with --encoding (cp1252 Western Europe, cp1250 "
            "Central Europe, cp932 Japanese)") from None


def _where(data: bytes, error: UnicodeDecodeError) -> str:
    # Line numbers count b"\n" as text editors do; for UTF-16 the byte count is only approximate, so say bytes too.
    line = data.count(b"\n", 0, error.start) + 1
    return f"line {line} (byte {error.start})"


def _shown(data: bytes, error: UnicodeDecodeError) -> str:
    return "bytes " + data[error.start:error.start + MAX_SHOWN_BYTES].hex(" ")


def parse_csv_text(text: str) -> CsvFile:
    """Parse the whole text; problems with the headings are in ``problems`` (and then ``rows`` is empty)."""
    records = _records(text, _delimiter(text))
    if not records:
        return CsvFile(PLAIN, {}, problems=[RowProblem(1, "", "the file is empty")])
    first_line, first = records[0]
    if first and first[0].strip().lower().startswith("version:"):
        return _portal_file(first_line, first, records[1:])
    return _plain_file(records)


def _delimiter(text: str) -> str:
    """Tab for tab-separated text (Excel's "Unicode text"), else comma: judged on the headings row, the first
    non-blank line that is not the portal's version row (headings hold no commas or tabs of their own)."""
    for line in text.splitlines():
        if not line.strip(" \t,") or line.lstrip().lower().startswith("version:"):
            continue
        return "\t" if "\t" in line and "," not in line else ","
    return ","


def _records(text: str, delimiter: str = ",") -> list[tuple[int, list[str]]]:
    """Non-blank records with the line each starts on (a quoted cell may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
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
    if kind == PORTAL and records and _is_examples_row(records[0][1]):
        line, cells = records[0]
        result.problems.append(RowProblem(line, "", "this is the template's examples row (cells starting with "
                                          f"{next(c.strip() for c in cells if _EXAMPLE_CELL.match(c.strip()))[:20]!r}"
                                          "): delete it, as the portal also requires, and keep only your own rows"))
        records = records[1:]
        if not records:
            return result
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


def _is_examples_row(cells: list[str]) -> bool:
    return any(_EXAMPLE_CELL.match(cell.strip()) for cell in cells)
