"""Progress of a bulk run: a redrawn bar on a terminal, plain lines otherwise (CI logs, files, pipes).

    [##########··········]  512/1000  done 505  failed 7  28.4 rows/s  ~17 s left
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24
MIN_ROWS_FOR_ESTIMATE = 5


class ProgressDisplay:
    """Thread-safe counters and their display. ``interval``: seconds between redraws (TTY) or lines (plain)."""

    def __init__(self, total: int, stream: TextIO, *, tty: bool | None = None, interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.interval = interval if interval is not None else (0.1 if self.tty else 5.0)
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._last_shown = float("-inf")
        self.done = 0
        self.failed = 0
        self.skipped = 0  # already done in an earlier run (resume)
        self._bar_visible = False
        self._last_text = ""

    def row_finished(self, ok: bool) -> None:
        with self._lock:
            if ok:
                self.done += 1
            else:
                self.failed += 1
            self._show(force=self.finished_rows() == self.total)

    def row_skipped(self) -> None:
        with self._lock:
            self.skipped += 1

    def note(self, message: str) -> None:
        """A line of its own (a warning, a pause), printed without garbling the bar."""
        with self._lock:
            self._clear_bar()
            self.stream.write(message + "\n")
            self._show(force=True)

    def close(self) -> None:
        with self._lock:
            self._show(force=True)
            if self._bar_visible:
                self.stream.write("\n")
                self._bar_visible = False
            self.stream.flush()

    def finished_rows(self) -> int:
        return self.done + self.failed + self.skipped

    def rate(self) -> float:
        """Rows per second in this run (skipped rows do not count: they took no time)."""
        elapsed = self._clock() - self._started
        return (self.done + self.failed) / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        finished = self.finished_rows()
        rate = self.rate()
        left = self.total - finished
        measured = self.done + self.failed >= MIN_ROWS_FOR_ESTIMATE  # the first rows include start-up
        eta = f"~{_duration(left / rate)} left" if rate > 0 and left > 0 and measured else ("finished" if left <= 0
                                                                                            else "")
        counts = f"{finished}/{self.total}  done {self.done}  failed {self.failed}"
        if self.skipped:
            counts += f"  skipped {self.skipped} (done earlier)"
        return f"{counts}  {rate:.1f} rows/s  {eta}".rstrip()

    def _show(self, force: bool = False) -> None:
        now = self._clock()
        if not force and now - self._last_shown < self.interval:
            return
        self._last_shown = now
        if not self.tty and self.line() == self._last_text:
            return  # nothing changed since the last plain line
        self._last_text = self.line()
        if self.tty:
            filled = round(BAR_WIDTH * self.finished_rows() / self.total) if self.total else BAR_WIDTH
            text = f"[{'#' * filled}{'·' * (BAR_WIDTH - filled)}]  {self.line()}"
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.stream.write("\r" + text[:width].ljust(width))
            self._bar_visible = True
        else:
            self.stream.write(f"progress: {self.line()}\n")
        self.stream.flush()

    def _clear_bar(self) -> None:
        if self._bar_visible:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.stream.write("\r" + " " * width + "\r")
            self._bar_visible = False


def _duration(span: float) -> str:
    seconds = round(span)
    if seconds < 90:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 90:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
