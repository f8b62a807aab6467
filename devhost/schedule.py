"""The timer trigger's NCRONTAB schedule (six fields: second minute hour day month day-of-week, UTC), enough to run
the app's timers locally: numbers, ``*``, lists, ranges and ``/`` steps; no names (``MON``) and no TimeSpan form."""

from __future__ import annotations

import datetime as dt

_BOUNDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


def _field(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if spec == "*":
            start, end = low, high
        elif "-" in spec:
            start, end = (int(v) for v in spec.split("-", 1))
        else:
            start = int(spec)
            end = high if step_text else start
        if not (low <= start <= end <= high) or step < 1:
            raise ValueError(f"schedule field {text!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def next_occurrence(schedule: str, after: dt.datetime) -> dt.datetime:
    """The first time strictly after ``after`` (UTC) that ``schedule`` fires."""
    fields = schedule.split()
    if len(fields) != 6:
        raise ValueError(f"an NCRONTAB schedule has six fields: {schedule!r}")
    seconds, minutes, hours, days, months, weekdays = (_field(f, *b) for f, b in zip(fields, _BOUNDS, strict=True))
    moment = after.astimezone(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
    minute = moment.replace(second=0)
    for _ in range(366 * 24 * 60):  # a year of minutes bounds the search
        day_ok = minute.day in days and minute.month in months and (minute.isoweekday() % 7) in weekdays
        if day_ok and minute.hour in hours and minute.minute in minutes:
            later = [s for s in sorted(seconds) if minute.replace(second=s) >= moment]
            if later:
                return minute.replace(second=later[0])
        minute += dt.timedelta(minutes=1)
    raise ValueError(f"schedule {schedule!r} does not fire within a year")
