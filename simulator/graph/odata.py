"""The OData `$filter` subset Graph accepts on /users, parsed into a predicate over a user record.

Grammar (MGDC concepts/filter-query-parameter.md): comparisons `prop eq|ne 'literal'`, `startswith(prop,'x')`,
`endswith(prop,'x')`, lambdas `coll/any(x:x eq 'literal')`, joined with `and`/`or`, `not`, parentheses.
String literals escape a single quote by doubling it. Graph compares directory strings case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

# Properties a filter may name (lower-case name -> the record's key) and which of them are collections.
SCALARS = {name.lower(): name for name in (
    "id", "mail", "userPrincipalName", "displayName", "givenName", "surname", "userType", "externalUserState",
    "creationType", "jobTitle", "mailNickname",
)}
COLLECTIONS = {name.lower(): name for name in ("otherMails", "proxyAddresses")}
# Properties the backend indexes (case-folded values): an `eq` on them narrows the users to look at.
INDEXED = ("id", "mail", "userPrincipalName", "otherMails", "proxyAddresses")

Keys = frozenset[tuple[str, str]] | None  # (property, case-folded value) pairs any match must have one of; None = any

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<punct>[(),:])|(?P<word>[A-Za-z_][A-Za-z0-9_./]*))")


class FilterError(ValueError):
    """The clause is not valid OData (Graph: 400 BadRequest "Invalid filter clause")."""


@dataclass
class Filter:
    predicate: Predicate
    advanced: list[str] = field(default_factory=list)  # properties used with operators needing advanced query
    # Every user the filter can match has one of these indexed (property, value) pairs; None: it cannot be narrowed.
    keys: Keys = None


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise FilterError(f"unexpected character at {position}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _fold(value: Any) -> str:
    return str(value).casefold()


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.advanced: list[str] = []

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, kind: str | None = None, value: str | None = None) -> str:
        token = self.peek()
        if token is None or (kind and token[0] != kind) or (value and token[1].lower() != value):
            raise FilterError(f"expected {value or kind}")
        self.at += 1
        return token[1]

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() == word:
            self.at += 1
            return True
        return False

    def parse(self) -> Filter:
        predicate, keys = self.or_expr()
        if self.peek() is not None:
            raise FilterError("trailing input")
        return Filter(predicate, self.advanced, keys)

    def or_expr(self) -> tuple[Predicate, Keys]:
        parts = [self.and_expr()]
        while self.keyword("or"):
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        predicates = [p for p, _ in parts]
        # A disjunction narrows only if each of its terms does: the union of their keys.
        keys = None if any(k is None for _, k in parts) else frozenset().union(*(k for _, k in parts))
        return (lambda user: any(part(user) for part in predicates)), keys

    def and_expr(self) -> tuple[Predicate, Keys]:
        parts = [self.unary()]
        while self.keyword("and"):
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        predicates = [p for p, _ in parts]
        # A conjunction is narrowed by any one term that narrows: the one with the fewest keys.
        narrowing = [k for _, k in parts if k is not None]
        keys = min(narrowing, key=len) if narrowing else None
        return (lambda user: all(part(user) for part in predicates)), keys

    def unary(self) -> tuple[Predicate, Keys]:
        if self.keyword("not"):
            inner, _ = self.unary()
            self.advanced.append("not")
            return (lambda user: not inner(user)), None
        if self.peek() == ("punct", "("):
            self.take("punct", "(")
            inner = self.or_expr()
            self.take("punct", ")")
            return inner
        return self.comparison()

    def literal(self) -> str:
        raw = self.take("str")
        return raw[1:-1].replace("''", "'")

    def comparison(self) -> tuple[Predicate, Keys]:
        name = self.take("word")
        lowered = name.lower()
        if lowered in ("startswith", "endswith"):
            self.take("punct", "(")
            prop = self.scalar(self.take("word"))
            self.take("punct", ",")
            value = _fold(self.literal())
            self.take("punct", ")")
            if lowered == "endswith":
                self.advanced.append("endsWith()")  # an operator, not a property: its own error text
                return (lambda user: _fold(user.get(prop) or "").endswith(value)), None
            return (lambda user: _fold(user.get(prop) or "").startswith(value)), None
        if lowered.endswith("/any"):
            return self.lambda_any(lowered[: -len("/any")])
        prop = self.scalar(name)
        operator = self.take("word").lower()
        if operator not in ("eq", "ne"):
            raise FilterError(f"unsupported operator {operator}")
        if self.peek() == ("word", "null"):
            self.take("word")
            value = None
        else:
            value = _fold(self.literal())
        if operator == "ne":
            self.advanced.append(prop)
            return (lambda user: (user.get(prop) is None) != (value is None) or (
                value is not None and _fold(user.get(prop)) != value)), None
        if value is None:
            return (lambda user: user.get(prop) is None), None
        keys = frozenset({(prop, value)}) if prop in INDEXED else None
        return (lambda user: user.get(prop) is not None and _fold(user.get(prop)) == value), keys

    def scalar(self, name: str) -> str:
        prop = SCALARS.get(name.lower())
        if prop is None:
            raise FilterError(f"unknown property {name}")
        return prop

    def lambda_any(self, collection: str) -> tuple[Predicate, Keys]:
        prop = COLLECTIONS.get(collection)
        if prop is None:
            raise FilterError(f"unknown collection {collection}")
        self.take("punct", "(")
        variable = self.take("word").lower()
        self.take("punct", ":")
        if self.take("word").lower() != variable:
            raise FilterError("lambda variable mismatch")
        operator = self.take("word").lower()
        if operator != "eq":
            raise FilterError("only eq inside any()")
        value = _fold(self.literal())
        self.take("punct", ")")
        return (lambda user: any(_fold(item) == value for item in user.get(prop) or ())), frozenset({(prop, value)})


def parse_filter(text: str) -> Filter:
    """Parse a $filter clause; raises FilterError when Graph would answer "Invalid filter clause"."""
    if not text.strip():
        raise FilterError("empty filter")
    return _Parser(text).parse()
