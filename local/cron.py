"""EventBridge schedule expressions: `cron(...)` (AWS's six fields), `rate(...)` and `at(...)`, in a time zone.

Follows https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html: minutes hours day-of-month
month day-of-week year; one of the two day fields is `?`; day-of-week 1-7 is SUN-SAT. Supported: `*`, `?`,
values, names (JAN, MON), ranges, steps, lists, `L` (last day of the month, or `5L`: the month's last Thursday)
and `#` (`2#1`: the first Monday). Not supported: `W` (nearest weekday). When clocks go forward, a time that does
not exist is skipped; when they go back, a repeated time fires once, as EventBridge Scheduler does.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, start=1)}  # not calendar's: it follows the locale
DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
LAST_YEAR = 2199  # the last year a cron expression may name
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86_400}


class Trigger(Protocol):
    """When a schedule fires next, strictly after a moment (aware datetimes); None when it never fires again."""

    def next_after(self, moment: datetime) -> datetime | None: ...


def parse_schedule(expression: str, timezone: str | None = None) -> Trigger:
    """The trigger of a ScheduleExpression; ValueError says what is wrong with it."""
    zone = _zone(timezone)
    text = expression.strip()
    if rate := _RATE.match(text):
        return Rate.parse(int(rate.group(1)), rate.group(2))
    if at := _AT.match(text):
        return At(datetime.fromisoformat(at.group(1)).replace(tzinfo=zone))
    if cron := _CRON.match(text):
        return Cron.parse(cron.group(1), zone)
    raise ValueError(f"{expression!r} is not a cron(...), rate(...) or at(...) expression")


def _zone(name: str | None) -> tzinfo:
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as error:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown time zone {name!r}") from error


@dataclass(frozen=True)
class Rate:
    """`rate(5 minutes)`: every period, counted from `start` (the moment the schedule begins)."""

    period: timedelta

    @classmethod
    def parse(cls, value: int, unit: str) -> Rate:
        if value < 1:
            raise ValueError("a rate needs a positive value")
        if (value == 1) != (not unit.endswith("s")):
            raise ValueError(f"rate({value} {unit}): use the singular unit for 1 and the plural otherwise")
        return cls(timedelta(seconds=value * _UNITS[unit.rstrip("s")]))

    def next_after(self, moment: datetime) -> datetime | None:
        return moment + self.period


@dataclass(frozen=True)
class At:
    """`at(2026-11-24T08:00:00)`: once."""

    when: datetime

    def next_after(self, moment: datetime) -> datetime | None:
        return self.when if self.when > moment else None


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None  # day-of-month values, None when the field is `?`
    last_day: bool  # `L` in day-of-month
    months: frozenset[int]
    weekdays: frozenset[int] | None  # day-of-week values 1-7, None when the field is `?`
    nth_weekdays: frozenset[tuple[int, int]]  # (weekday, n) from `2#1`
    last_weekdays: frozenset[int]  # weekday from `5L`
    years: tuple[int, ...]  # sorted
    zone: tzinfo = UTC

    @classmethod
    def parse(cls, text: str, zone: tzinfo = UTC) -> Cron:
        fields = text.split()
        if len(fields) != 6:
            raise ValueError(f"cron({text}) needs six fields: minutes hours day-of-month month day-of-week year")
        minute, hour, day, month, weekday, year = fields
        if (day == "?") == (weekday == "?"):
            raise ValueError(f"cron({text}): exactly one of day-of-month and day-of-week must be '?'")
        days, last_day = (None, False) if day == "?" else _day_of_month(day)
        weekdays, nth, last_weekdays = (None, frozenset(), frozenset()) if weekday == "?" else _day_of_week(weekday)
        return cls(
            minutes=_values(minute, 0, 59),
            hours=_values(hour, 0, 23),
            days=days,
            last_day=last_day,
            months=_values(month, 1, 12, MONTHS),
            weekdays=weekdays,
            nth_weekdays=nth,
            last_weekdays=last_weekdays,
            years=tuple(sorted(_values(year, 1970, LAST_YEAR))),
            zone=zone,
        )

    def next_after(self, moment: datetime) -> datetime | None:
        """The first matching minute after `moment`, in the expression's time zone, as an aware datetime."""
        local = moment.astimezone(self.zone).replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=1)
        while local.year <= LAST_YEAR:
            if local.year not in self.years:
                later = [year for year in self.years if year > local.year]
                if not later:
                    return None
                local = datetime(later[0], 1, 1)
            elif local.month not in self.months:
                local = _first_of_next_month(local)
            elif not self._day_matches(local.date()):
                local = datetime(local.year, local.month, local.day) + timedelta(days=1)
            elif local.hour not in self.hours:
                local = local.replace(minute=0) + timedelta(hours=1)
            elif local.minute not in self.minutes:
                local += timedelta(minutes=1)
            elif (found := self._existing(local)) is not None and found > moment:
                return found
            else:
                local += timedelta(minutes=1)
        return None

    def _day_matches(self, day: date) -> bool:
        length = calendar.monthrange(day.year, day.month)[1]
        if self.days is not None:
            return day.day in self.days or (self.last_day and day.day == length)
        weekday = day.isoweekday() % 7 + 1  # Python's Monday=1..Sunday=7 to AWS's Sunday=1..Saturday=7
        return (
            weekday in (self.weekdays or ())
            or (weekday, (day.day - 1) // 7 + 1) in self.nth_weekdays
            or (weekday in self.last_weekdays and day.day + 7 > length)
        )

    def _existing(self, local: datetime) -> datetime | None:
        """`local` in the zone (the first of two, when clocks go back), or None if clocks skip over it."""
        aware = local.replace(tzinfo=self.zone)
        utc = aware.astimezone(UTC)
        return aware if utc.astimezone(self.zone).replace(tzinfo=None) == local else None


def _first_of_next_month(moment: datetime) -> datetime:
    return datetime(moment.year + 1, 1, 1) if moment.month == 12 else datetime(moment.year, moment.month + 1, 1)


def _values(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """The values a field allows: `*`, `5`, `1-5`, `*/15`, `10/5`, `MON-FRI`, and lists of those."""
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = _number(step_text, 1, high - low + 1, None) if step_text else 1
        if span == "*":
            first, last = low, high
        elif "-" in span:
            start, end = span.split("-", 1)
            first, last = _number(start, low, high, names), _number(end, low, high, names)
            if first > last:
                raise ValueError(f"range {span!r} runs backwards")
        else:
            first = _number(span, low, high, names)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _number(text: str, low: int, high: int, names: dict[str, int] | None) -> int:
    upper = text.strip().upper()
    if names and upper in names:
        return names[upper]
    if not upper.isdigit():
        raise ValueError(f"{text!r} is not a value between {low} and {high}")
    value = int(upper)
    if not low <= value <= high:
        raise ValueError(f"{value} is outside {low}-{high}")
    return value


def _day_of_month(text: str) -> tuple[frozenset[int], bool]:
    parts = text.split(",")
    if any("W" in part.upper() for part in parts):
        raise ValueError(f"day-of-month {text!r}: 'W' is not supported locally")
    last = any(part.upper() == "L" for part in parts)
    rest = ",".join(part for part in parts if part.upper() != "L")
    return (_values(rest, 1, 31) if rest else frozenset()), last


def _day_of_week(text: str) -> tuple[frozenset[int], frozenset[tuple[int, int]], frozenset[int]]:
    plain: list[str] = []
    nth: set[tuple[int, int]] = set()
    last: set[int] = set()
    for part in text.upper().split(","):
        if "#" in part:
            day, number = part.split("#", 1)
            nth.add((_number(day, 1, 7, DAYS), _number(number, 1, 5, None)))
        elif part == "L":
            plain.append("7")  # alone, L is the last day of the week: Saturday
        elif part.endswith("L"):
            last.add(_number(part[:-1], 1, 7, DAYS))
        else:
            plain.append(part)
    weekdays = _values(",".join(plain), 1, 7, DAYS) if plain else frozenset()
    return weekdays, frozenset(nth), frozenset(last)
