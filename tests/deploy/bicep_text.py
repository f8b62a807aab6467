"""Reading names out of Bicep source text, for offline checks (the Bicep compiler is not available here).

A deliberately small reader, honest about what it does not do:
- It strips ``//`` and ``/* */`` comments and understands Bicep's single-quoted strings (``\\'`` escapes), so a
  bracket or a ``name:`` inside a string or a comment never counts.
- It finds a ``var`` by name and returns its first bracketed value. For ``cond ? [...] : []`` that is the first
  branch: names behind a condition count as present (both identity variants are listed, on purpose).
- A setting name is a literal ``name: '...'`` entry. An interpolated name (``'${x}'``) raises ``BicepTextError``
  rather than being skipped, and so does an ``appSettings:`` value that is neither an array literal nor
  ``concat()`` of ``var`` names: the tests then fail instead of passing on a template they cannot read.
- It does not evaluate expressions, ``union()``, loops or module parameters, and does not know multi-line
  ``'''`` strings (none are used in infra/).
"""

from __future__ import annotations

import re

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NAME_ENTRY = re.compile(r"\bname:\s*'([^']*)'")
_CLOSERS = {"[": "]", "{": "}", "(": ")"}


class BicepTextError(ValueError):
    """The text uses a form this reader does not understand."""


def _string_end(text: str, start: int) -> int:
    """Index just past the single-quoted string that opens at ``start``."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "'":
            return i + 1
        i += 1
    raise BicepTextError(f"unterminated string at offset {start}")


def strip_comments(text: str) -> str:
    """The text without comments; strings (which may contain ``//``, as URLs do) are kept intact."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "'":
            end = _string_end(text, i)
            out.append(text[i:end])
            i = end
        elif text.startswith("//", i):
            newline = text.find("\n", i)
            i = len(text) if newline == -1 else newline
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            if close == -1:
                raise BicepTextError(f"unterminated block comment at offset {i}")
            i = close + 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def bracketed(text: str, start: int) -> str:
    """The balanced ``[...]``, ``{...}`` or ``(...)`` that opens at ``start`` (strings skipped)."""
    if text[start] not in _CLOSERS:
        raise BicepTextError(f"no bracket at offset {start}")
    stack: list[str] = []
    i = start
    while i < len(text):
        char = text[i]
        if char == "'":
            i = _string_end(text, i)
            continue
        if char in _CLOSERS:
            stack.append(_CLOSERS[char])
        elif stack and char == stack[-1]:
            stack.pop()
            if not stack:
                return text[start : i + 1]
        i += 1
    raise BicepTextError(f"unbalanced bracket at offset {start}")


def variable_value(text: str, name: str) -> str:
    """The first bracketed value of ``var <name> = ...`` (comments already stripped)."""
    match = re.search(rf"^\s*var\s+{re.escape(name)}\s*=", text, re.MULTILINE)
    if match is None:
        raise BicepTextError(f"no var {name!r}")
    opening = re.compile(r"[\[{]").search(text, match.end())
    if opening is None:
        raise BicepTextError(f"var {name!r} has no array or object value")
    return bracketed(text, opening.start())


def setting_names(block: str) -> list[str]:
    """The literal ``name: '...'`` entries of an app-settings array, in order."""
    names = _NAME_ENTRY.findall(block)
    for name in names:
        if "${" in name:
            raise BicepTextError(f"interpolated setting name {name!r}: this reader cannot know it")
    return names


def app_setting_names(source: str) -> list[str]:
    """Every app-setting name a ``siteConfig.appSettings`` in ``source`` can produce."""
    text = strip_comments(source)
    match = re.search(r"\bappSettings:\s*", text)
    if match is None:
        raise BicepTextError("no appSettings in this template")
    rest = text[match.end() :]
    if rest.startswith("["):
        return setting_names(bracketed(rest, 0))
    concat = re.match(r"concat\(", rest)
    if concat is None:
        raise BicepTextError("appSettings is neither an array literal nor concat(...) of vars")
    arguments = bracketed(rest, concat.end() - 1)[1:-1]
    names: list[str] = []
    for variable in (part.strip() for part in arguments.split(",")):
        if not re.fullmatch(r"[A-Za-z_]\w*", variable):
            raise BicepTextError(f"concat argument {variable!r} is not a var name")
        names.extend(setting_names(variable_value(text, variable)))
    return names


def string_array(source: str, name: str) -> list[str]:
    """The literal strings of ``var <name> = [ 'a' 'b' ]``."""
    value = variable_value(strip_comments(source), name)
    return re.findall(r"'([^']*)'", value)


def param_defaults(source: str) -> dict[str, str | None]:
    """Each ``param`` name with its literal default (``None`` when it has none or it is not a literal)."""
    text = strip_comments(source)
    defaults: dict[str, str | None] = {}
    for match in re.finditer(r"^\s*param\s+(\w+)\s+\w+(?:\s*=\s*(.+))?$", text, re.MULTILINE):
        default = (match.group(2) or "").strip()
        literal = re.fullmatch(r"'([^']*)'|(-?\d+|true|false)", default)
        defaults[match.group(1)] = None if literal is None else (literal.group(1) or literal.group(2) or "")
    return defaults


def guids(source: str) -> set[str]:
    """Every GUID literal in the text, comments excluded, lower-cased."""
    return {guid.lower() for guid in GUID.findall(strip_comments(source))}
