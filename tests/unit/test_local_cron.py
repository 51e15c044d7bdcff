"""Schedule expressions as EventBridge evaluates them: AWS's six-field cron, rate and at, in a time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from local.cron import At, Cron, Rate, parse_schedule

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def fires(expression: str, after: datetime, count: int = 3, timezone: str | None = None) -> list[datetime]:
    trigger = parse_schedule(expression, timezone)
    moments: list[datetime] = []
    moment: datetime | None = after
    while len(moments) < count:
        moment = trigger.next_after(moment)  # type: ignore[arg-type]
        if moment is None:
            break
        moments.append(moment)
    return moments


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_daily_cron_fires_every_day_at_the_time() -> None:
    assert fires("cron(0 8 * * ? *)", utc(2026, 11, 24, 7, 59, 59)) == [
        utc(2026, 11, 24, 8, 0),
        utc(2026, 11, 25, 8, 0),
        utc(2026, 11, 26, 8, 0),
    ]


def test_cron_fires_strictly_after_the_moment() -> None:
    assert fires("cron(0 8 * * ? *)", utc(2026, 11, 24, 8, 0), count=1) == [utc(2026, 11, 25, 8, 0)]
    assert fires("cron(0 8 * * ? *)", utc(2026, 11, 24, 8, 0, 30), count=1) == [utc(2026, 11, 25, 8, 0)]


def test_steps_lists_and_ranges() -> None:
    assert fires("cron(0 */6 * * ? *)", utc(2026, 11, 24, 1, 0)) == [
        utc(2026, 11, 24, 6, 0),
        utc(2026, 11, 24, 12, 0),
        utc(2026, 11, 24, 18, 0),
    ]
    assert fires("cron(15,45 9-17/4 * * ? *)", utc(2026, 11, 24, 0, 0), count=4) == [
        utc(2026, 11, 24, 9, 15),
        utc(2026, 11, 24, 9, 45),
        utc(2026, 11, 24, 13, 15),
        utc(2026, 11, 24, 13, 45),
    ]
    assert fires("cron(5/20 0 * * ? *)", utc(2026, 11, 24, 0, 0)) == [
        utc(2026, 11, 24, 0, 5),
        utc(2026, 11, 24, 0, 25),
        utc(2026, 11, 24, 0, 45),
    ]


def test_weekday_names_in_a_time_zone_skip_the_weekend() -> None:
    # Friday 2026-11-27, 10:00 in New York is 15:00 UTC (EST, UTC-5)
    got = fires("cron(0 10 ? * MON-FRI *)", utc(2026, 11, 27, 16, 0), count=2, timezone="America/New_York")
    assert got == [datetime(2026, 11, 30, 10, 0, tzinfo=NEW_YORK), datetime(2026, 12, 1, 10, 0, tzinfo=NEW_YORK)]
    assert got[0].astimezone(UTC) == utc(2026, 11, 30, 15, 0)


def test_day_of_week_numbers_start_on_sunday() -> None:
    assert fires("cron(0 12 ? * 1 *)", utc(2026, 11, 24, 0, 0), count=1) == [utc(2026, 11, 29, 12, 0)]  # Sunday
    assert fires("cron(0 12 ? * 7 *)", utc(2026, 11, 24, 0, 0), count=1) == [utc(2026, 11, 28, 12, 0)]  # Saturday


def test_month_names_and_the_year_field() -> None:
    assert fires("cron(0 0 1 JAN,JUL ? 2027-2028)", utc(2026, 11, 24, 0, 0), count=5) == [
        utc(2027, 1, 1, 0, 0),
        utc(2027, 7, 1, 0, 0),
        utc(2028, 1, 1, 0, 0),
        utc(2028, 7, 1, 0, 0),
    ]


def test_last_day_of_the_month_and_nth_and_last_weekdays() -> None:
    assert fires("cron(0 12 L * ? *)", utc(2027, 1, 31, 13, 0)) == [
        utc(2027, 2, 28, 12, 0),
        utc(2027, 3, 31, 12, 0),
        utc(2027, 4, 30, 12, 0),
    ]
    assert fires("cron(0 9 ? * 2#1 *)", utc(2026, 11, 24, 0, 0), count=2) == [  # first Monday
        utc(2026, 12, 7, 9, 0),
        utc(2027, 1, 4, 9, 0),
    ]
    assert fires("cron(0 9 ? * 6L *)", utc(2026, 11, 24, 0, 0), count=2) == [  # last Friday
        utc(2026, 11, 27, 9, 0),
        utc(2026, 12, 25, 9, 0),
    ]


def test_a_time_skipped_when_clocks_go_forward_does_not_fire() -> None:
    # Paris springs forward on 2026-03-29 at 02:00 to 03:00: 02:30 does not exist that day
    got = fires("cron(30 2 * * ? *)", utc(2026, 3, 28, 12, 0), count=2, timezone="Europe/Paris")
    assert got == [datetime(2026, 3, 30, 2, 30, tzinfo=PARIS), datetime(2026, 3, 31, 2, 30, tzinfo=PARIS)]


def test_a_time_repeated_when_clocks_go_back_fires_once() -> None:
    # Paris falls back on 2026-10-25 at 03:00 to 02:00: 02:30 happens twice that day
    got = fires("cron(30 2 * * ? *)", utc(2026, 10, 24, 12, 0), count=2, timezone="Europe/Paris")
    assert [moment.astimezone(UTC) for moment in got] == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_cron_past_its_last_year_never_fires() -> None:
    assert parse_schedule("cron(0 0 1 1 ? 2020)").next_after(utc(2026, 1, 1)) is None


def test_rate_counts_periods_from_the_moment() -> None:
    assert parse_schedule("rate(1 minute)") == Rate(timedelta(minutes=1))
    assert parse_schedule("rate(6 hours)") == Rate(timedelta(hours=6))
    assert parse_schedule("rate(2 days)").next_after(utc(2026, 11, 24, 8, 0)) == utc(2026, 11, 26, 8, 0)


def test_at_fires_once_in_its_time_zone() -> None:
    trigger = parse_schedule("at(2027-01-01T09:00:00)", "Europe/Paris")
    assert trigger == At(datetime(2027, 1, 1, 9, 0, tzinfo=PARIS))
    assert trigger.next_after(utc(2026, 12, 31)) == utc(2027, 1, 1, 8, 0)
    assert trigger.next_after(utc(2027, 1, 1, 8, 0)) is None


def test_utc_and_no_time_zone_are_the_same() -> None:
    assert parse_schedule("cron(0 8 * * ? *)", "UTC") == Cron.parse("0 8 * * ? *")
    assert parse_schedule("cron(0 8 * * ? *)") == Cron.parse("0 8 * * ? *")


@pytest.mark.parametrize(
    ("expression", "timezone", "message"),
    [
        ("cron(0 8 * * ?)", None, "six fields"),
        ("cron(0 8 * * * *)", None, "exactly one of day-of-month and day-of-week"),
        ("cron(0 8 ? * ? *)", None, "exactly one of day-of-month and day-of-week"),
        ("cron(60 8 * * ? *)", None, "outside 0-59"),
        ("cron(0 8 15W * ? *)", None, "'W' is not supported"),
        ("cron(0 8 ? * FRI-MON *)", None, "runs backwards"),
        ("cron(0 8 * FOO ? *)", None, "is not a value"),
        ("rate(1 minutes)", None, "singular"),
        ("rate(5 minute)", None, "plural"),
        ("rate(0 minutes)", None, "positive"),
        ("every day", None, "not a cron"),
        ("cron(0 8 * * ? *)", "Mars/Olympus", "unknown time zone"),
    ],
)
def test_invalid_expressions_say_what_is_wrong(expression: str, timezone: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(expression, timezone)
