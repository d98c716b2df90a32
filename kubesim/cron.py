"""Cron schedules as CronJobs use them (robfig/cron's standard 5-field parser).

Parses `minute hour day-of-month month day-of-week` with lists, ranges, steps, month and weekday names,
`?` and the `@hourly`-style macros, and finds the next activation after a time in a time zone. Used by
CronJob validation and by the CronJob controller; it schedules nothing itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {
    m: i + 1 for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_BOUNDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)


class CronError(ValueError):
    """An unparseable schedule (the message is robfig/cron's)."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    def _day_matches(self, when: dt.datetime) -> bool:
        day_ok = when.day in self.days
        weekday_ok = (when.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok

    def next_after(self, epoch: float, zone: str = "") -> float:
        """The first activation strictly after `epoch` (seconds), in time zone `zone` (UTC when empty)."""
        tz = ZoneInfo(zone) if zone else dt.UTC
        when = dt.datetime.fromtimestamp(epoch, tz).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        limit = when + dt.timedelta(days=366 * 5)
        while when < limit:
            if when.month not in self.months:
                month = when.month + 1
                year = when.year + (month > 12)
                when = when.replace(year=year, month=(month - 1) % 12 + 1, day=1, hour=0, minute=0)
                continue
            if not self._day_matches(when):
                when = (when + dt.timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if when.hour not in self.hours:
                when = (when + dt.timedelta(hours=1)).replace(minute=0)
                continue
            if when.minute not in self.minutes:
                when += dt.timedelta(minutes=1)
                continue
            return when.timestamp()
        raise CronError("no activation within five years")


def _field(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        step = 1
        part = item
        if "/" in item:
            part, step_text = item.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f'failed to parse int from {step_text}: strconv.Atoi: parsing "{step_text}"')
            step = int(step_text)
        if part in ("*", "?"):
            start, end = low, high
        else:
            bounds = part.split("-", 1)
            numbers = []
            for bound in bounds:
                lowered = bound.lower()
                if lowered in names:
                    numbers.append(names[lowered])
                elif bound.isdigit():
                    numbers.append(int(bound))
                else:
                    raise CronError(
                        f'failed to parse int from {bound}: strconv.Atoi: parsing "{bound}": invalid syntax'
                    )
            start = numbers[0]
            end = numbers[1] if len(numbers) > 1 else (high if "/" in text and step > 1 else start)
        if start < low:
            raise CronError(f"beginning of range ({start}) below minimum ({low}): {text}")
        if end > high:
            raise CronError(f"end of range ({end}) above maximum ({high}): {text}")
        if start > end:
            raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {text}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse(schedule: str) -> Schedule:
    """Parse a schedule; raises CronError with robfig/cron's wording."""
    text = _MACROS.get(schedule.strip(), schedule.strip())
    if text.startswith("TZ=") or text.startswith("CRON_TZ="):
        raise CronError("TZ is not supported in the schedule; use spec.timeZone")
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    parsed = [_field(f, low, high, names) for f, (low, high, names) in zip(fields, _BOUNDS, strict=True)]
    weekdays = frozenset(d % 7 for d in parsed[4])
    return Schedule(
        parsed[0], parsed[1], parsed[2], parsed[3], weekdays, fields[2] in ("*", "?"), fields[4] in ("*", "?")
    )


def valid_zone(zone: str) -> bool:
    """Whether a time zone name is known."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
