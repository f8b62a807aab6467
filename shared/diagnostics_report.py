"""The doctor's report: checks with a status, a detail and the exact fix; rendered as JSON (``/api/health``,
``doctor --json``) or as text for a terminal. Built only from what the checks say: never a token or secret."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .wire import printable, printable_json, utc_now


class Status(StrEnum):
    OK = "ok"
    MISSING = "missing"  # something needed is not there (a permission, a queue, a setting): the fix says what
    ERROR = "error"  # present but failing (refused credential, unreachable storage, dynamic group)
    SKIPPED = "skipped"  # not run (it depends on a failed check) or nothing to look at: does not fail the report
    DEGRADED = "degraded"  # in place, but recent work failed (poison messages in the last hour): still ready


FAILING = (Status.MISSING, Status.ERROR)
_MARKS = {Status.OK: "ok", Status.MISSING: "MISSING", Status.ERROR: "ERROR", Status.SKIPPED: "skipped",
          Status.DEGRADED: "DEGRADED"}


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"name": self.name, "status": self.status.value, "detail": self.detail}
        if self.fix:
            answer["fix"] = self.fix
        return answer


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]
    checked_at: str = field(default="")

    @classmethod
    def create(cls, checks: list[Check]) -> Report:
        return cls(tuple(checks), utc_now())

    @property
    def ok(self) -> bool:
        """Everything needed is in place: no check missing or failing."""
        return not any(check.status in FAILING for check in self.checks)

    def failing(self) -> list[Check]:
        return [check for check in self.checks if check.status in FAILING]

    @property
    def status(self) -> str:
        """``not ready`` (a check fails: 503), ``degraded`` (ready, but recent work failed: 200) or ``ok``."""
        if not self.ok:
            return "not ready"
        return "degraded" if any(check.status is Status.DEGRADED for check in self.checks) else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "status": self.status, "checkedAt": self.checked_at,
                "checks": [check.to_dict() for check in self.checks]}

    def to_json(self) -> str:
        return printable_json(json.dumps(self.to_dict(), indent=2, ensure_ascii=False))

    def to_text(self) -> str:
        width = max((len(check.name) for check in self.checks), default=0)
        lines = []
        for check in self.checks:
            # A detail may quote what others wrote (a poison message, Graph): escaped, one line per field.
            lines.append(f"[{_MARKS[check.status]:>7}] {printable(check.name).ljust(width)}  {printable(check.detail)}")
            if check.fix:
                lines.append(f"{'':10}{'':{width}}  fix: {printable(check.fix)}")
        failing = self.failing()
        summary = "all checks passed" if not failing else \
            f"{len(failing)} problem(s): {', '.join(check.name for check in failing)}"
        lines.append("")
        if self.status == "degraded":
            degraded = [check.name for check in self.checks if check.status is Status.DEGRADED]
            summary += f"; degraded: {', '.join(degraded)}"
        lines.append(f"{'OK' if self.ok else 'NOT READY'}: {summary} ({self.checked_at})")
        return "\n".join(lines)
