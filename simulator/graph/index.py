"""Lookups of users by address without scanning the directory: what Graph's own indexes give its `eq` filters.

Values are case-folded (Graph compares directory strings case-insensitively). Not locked itself: the backend's
lock guards it, and the backend calls ``add``/``remove`` around every change of an indexed property.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from .odata import INDEXED


def _fold(value: Any) -> str:
    return str(value).casefold()


class UserIndex:
    def __init__(self) -> None:
        self._by_property: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._by_address: dict[str, set[str]] = defaultdict(set)  # mail, UPN, otherMails, proxy address sans prefix
        self._order: dict[str, int] = {}  # user id -> insertion number, so answers keep the directory's order
        self._next = 0

    @staticmethod
    def _properties(user: dict[str, Any]) -> Iterable[tuple[str, str]]:
        for prop in INDEXED:
            value = user.get(prop)
            for item in (value if isinstance(value, list) else [value]):
                if item:
                    yield prop, _fold(item)

    @staticmethod
    def _addresses(user: dict[str, Any]) -> set[str]:
        values = [user.get("mail"), user.get("userPrincipalName"), *(user.get("otherMails") or ()),
                  *(p.split(":", 1)[-1] for p in user.get("proxyAddresses") or ())]
        return {_fold(v) for v in values if v}

    def add(self, user: dict[str, Any]) -> None:
        user_id = user["id"]
        if user_id not in self._order:
            self._order[user_id] = self._next
            self._next += 1
        for key in self._properties(user):
            self._by_property[key].add(user_id)
        for address in self._addresses(user):
            self._by_address[address].add(user_id)

    def remove(self, user: dict[str, Any], forget: bool = True) -> None:
        """Drop a user's entries (``forget=False`` keeps its place, for a change of its properties)."""
        user_id = user["id"]
        for key in self._properties(user):
            self._discard(self._by_property, key, user_id)
        for address in self._addresses(user):
            self._discard(self._by_address, address, user_id)
        if forget:
            self._order.pop(user_id, None)

    @staticmethod
    def _discard(index: dict, key: Any, user_id: str) -> None:
        ids = index.get(key)
        if ids is not None:
            ids.discard(user_id)
            if not ids:
                del index[key]

    def by_keys(self, keys: Iterable[tuple[str, str]]) -> list[str]:
        """Ids of users having any of these (property, case-folded value) pairs, in directory order."""
        found: set[str] = set()
        for key in keys:
            found |= self._by_property.get(key, set())
        return sorted(found, key=self._order.__getitem__)

    def by_address(self, address: str) -> list[str]:
        return sorted(self._by_address.get(_fold(address), set()), key=self._order.__getitem__)
