"""Progress: a redrawn bar on a terminal, plain lines elsewhere, with counts, rate and time left."""

from __future__ import annotations

import io

from guest_cli.bulk.progress import ProgressDisplay


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_output_prints_lines_with_counts_rate_and_time_left() -> None:
    stream, clock = io.StringIO(), FakeClock()
    progress = ProgressDisplay(8, stream, tty=False, interval=0.0, clock=clock)
    clock.now = 5.0
    for ok in (True, True, True, True, False):
        progress.row_finished(ok=ok)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "progress: 1/8  done 1  failed 0  0.2 rows/s"  # no estimate from the first rows
    assert lines[4] == "progress: 5/8  done 4  failed 1  1.0 rows/s  ~3 s left"


def test_plain_output_is_throttled_to_the_interval_but_the_last_row_always_shows() -> None:
    stream, clock = io.StringIO(), FakeClock()
    progress = ProgressDisplay(3, stream, tty=False, interval=5.0, clock=clock)
    for _ in range(3):
        clock.now += 1.0
        progress.row_finished(ok=True)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("progress: 3/3  done 3  failed 0")


def test_terminal_output_redraws_one_bar_and_notes_do_not_garble_it() -> None:
    stream, clock = io.StringIO(), FakeClock()
    progress = ProgressDisplay(2, stream, tty=True, interval=0.0, clock=clock)
    clock.now = 1.0
    progress.row_finished(ok=True)
    progress.note("Graph asked us to wait 3 s (429); all workers paused")
    progress.row_finished(ok=True)
    progress.close()
    text = stream.getvalue()
    assert text.count("\n") == 2  # the note's line and the final newline after the bar
    assert "[############" in text and "2/2  done 2" in text
    assert "\rGraph asked us to wait" in text.replace(" " * 10, "")


def test_rows_done_in_an_earlier_run_count_as_finished_but_not_in_the_rate() -> None:
    stream, clock = io.StringIO(), FakeClock()
    progress = ProgressDisplay(3, stream, tty=False, interval=0.0, clock=clock)
    progress.row_skipped()
    progress.row_skipped()
    clock.now = 4.0
    progress.row_finished(ok=True)
    assert progress.line() == "3/3  done 1  failed 0  skipped 2 (done earlier)  0.2 rows/s  finished"
