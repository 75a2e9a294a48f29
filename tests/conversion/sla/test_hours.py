"""Business-hours arithmetic: pure functions, no database."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest

from conversion.sla.hours import (
    Calendar,
    CalendarError,
    add_business_minutes,
    business_minutes_between,
    is_open,
    parse_week,
)

UTC = dt.UTC
WEEKDAYS_9_17 = [[["09:00", "17:00"]]] * 5 + [[], []]
SPLIT_DAY = [[["09:00", "12:30"], ["13:30", "18:00"]]] * 5 + [[], []]


def at(zone: str, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def cal(zone: str = "UTC", week: list = WEEKDAYS_9_17, **kwargs: object) -> Calendar:  # type: ignore[type-arg]
    return Calendar.build(timezone=zone, week=week, **kwargs)  # type: ignore[arg-type]


def test_inside_hours_adds_plainly() -> None:
    berlin = cal("Europe/Berlin")
    start = at("Europe/Berlin", 2026, 3, 10, 10, 0)  # Tuesday
    assert add_business_minutes(berlin, start, 90) == at("Europe/Berlin", 2026, 3, 10, 11, 30)


def test_the_rest_carries_to_the_next_opening() -> None:
    berlin = cal("Europe/Berlin")
    start = at("Europe/Berlin", 2026, 3, 10, 16, 0)
    # 60 minutes today, 60 tomorrow from 09:00
    assert add_business_minutes(berlin, start, 120) == at("Europe/Berlin", 2026, 3, 11, 10, 0)


def test_weekend_is_skipped() -> None:
    tokyo = cal("Asia/Tokyo")  # east of UTC
    friday = at("Asia/Tokyo", 2026, 6, 12, 16, 30)
    assert add_business_minutes(tokyo, friday, 60) == at("Asia/Tokyo", 2026, 6, 15, 9, 30)
    saturday = at("Asia/Tokyo", 2026, 6, 13, 11, 0)
    assert add_business_minutes(tokyo, saturday, 0) == at("Asia/Tokyo", 2026, 6, 15, 9, 0)
    assert business_minutes_between(tokyo, friday, at("Asia/Tokyo", 2026, 6, 15, 9, 30)) == 60


def test_an_instant_before_opening_starts_at_the_opening() -> None:
    la = cal("America/Los_Angeles")  # west of UTC
    early = at("America/Los_Angeles", 2026, 6, 10, 6, 15)
    assert add_business_minutes(la, early, 30) == at("America/Los_Angeles", 2026, 6, 10, 9, 30)
    late = at("America/Los_Angeles", 2026, 6, 10, 21, 0)
    assert add_business_minutes(la, late, 30) == at("America/Los_Angeles", 2026, 6, 11, 9, 30)


def test_local_midnight_is_not_utc_midnight_west_of_utc() -> None:
    la = cal("America/Los_Angeles")
    # 2026-06-11 03:00 UTC is Wednesday 20:00 in Los Angeles: closed until Thursday 09:00 local.
    start = dt.datetime(2026, 6, 11, 3, 0, tzinfo=UTC)
    assert add_business_minutes(la, start, 1) == at("America/Los_Angeles", 2026, 6, 11, 9, 1)


def test_local_date_east_of_utc_starts_before_utc_midnight() -> None:
    tokyo = cal("Asia/Tokyo")
    # Sunday 23:30 UTC is Monday 08:30 in Tokyo: opens in 30 minutes.
    start = dt.datetime(2026, 6, 14, 23, 30, tzinfo=UTC)
    assert add_business_minutes(tokyo, start, 10) == at("Asia/Tokyo", 2026, 6, 15, 9, 10)


def test_several_intervals_a_day() -> None:
    split = cal("Europe/Paris", SPLIT_DAY)
    start = at("Europe/Paris", 2026, 3, 10, 12, 0)
    # 30 minutes before lunch, lunch closed, then 30 more
    assert add_business_minutes(split, start, 60) == at("Europe/Paris", 2026, 3, 10, 14, 0)
    assert business_minutes_between(split, start, at("Europe/Paris", 2026, 3, 10, 14, 0)) == 60
    lunch = at("Europe/Paris", 2026, 3, 10, 13, 0)
    assert add_business_minutes(split, lunch, 0) == at("Europe/Paris", 2026, 3, 10, 13, 30)
    assert not is_open(split, lunch)
    assert split.weekly_minutes == 5 * (210 + 270)


def test_holidays_one_off_and_yearly() -> None:
    berlin = cal(
        "Europe/Berlin",
        holidays=[dt.date(2026, 4, 3)],  # Good Friday 2026
        yearly=[dt.date(2000, 12, 25), dt.date(2000, 12, 26)],
    )
    thursday = at("Europe/Berlin", 2026, 4, 2, 16, 0)
    assert add_business_minutes(berlin, thursday, 120) == at("Europe/Berlin", 2026, 4, 6, 10, 0)
    christmas_eve = at("Europe/Berlin", 2030, 12, 24, 16, 30)  # a Tuesday; 25th and 26th closed
    assert add_business_minutes(berlin, christmas_eve, 60) == at("Europe/Berlin", 2030, 12, 27, 9, 30)


def test_dst_forward_in_the_night_keeps_wall_clock_hours() -> None:
    berlin = cal("Europe/Berlin")
    # Friday 16:00 CET + 120 min: 60 on Friday, weekend with the switch to CEST (Mar 29), 60 on Monday.
    friday = at("Europe/Berlin", 2026, 3, 27, 16, 0)
    due = add_business_minutes(berlin, friday, 120)
    assert due == at("Europe/Berlin", 2026, 3, 30, 10, 0)
    assert due.astimezone(UTC) == dt.datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # CEST = UTC+2
    assert business_minutes_between(berlin, friday, due) == 120


def test_dst_days_have_their_real_length_when_open_round_the_clock() -> None:
    always = [[["00:00", "24:00"]]] * 7
    berlin = cal("Europe/Berlin", always)
    spring = at("Europe/Berlin", 2026, 3, 29, 0, 0)
    autumn = at("Europe/Berlin", 2026, 10, 25, 0, 0)
    assert business_minutes_between(berlin, spring, at("Europe/Berlin", 2026, 3, 30, 0, 0)) == 23 * 60
    assert business_minutes_between(berlin, autumn, at("Europe/Berlin", 2026, 10, 26, 0, 0)) == 25 * 60
    # 120 real minutes after 01:00 on the spring day is 04:00 local (02:00-03:00 does not exist).
    assert add_business_minutes(berlin, at("Europe/Berlin", 2026, 3, 29, 1, 0), 120) == at(
        "Europe/Berlin", 2026, 3, 29, 4, 0
    )


def test_dst_back_west_of_utc() -> None:
    new_york = cal("America/New_York", [[["00:00", "03:00"], ["09:00", "17:00"]]] * 7)
    # Nov 1 2026: 02:00 EDT falls back to 01:00 EST, so 00:00-03:00 lasts 4 hours that night.
    night = at("America/New_York", 2026, 11, 1, 0, 0)
    assert business_minutes_between(new_york, night, at("America/New_York", 2026, 11, 1, 3, 0)) == 240
    assert add_business_minutes(new_york, night, 240) == at("America/New_York", 2026, 11, 1, 3, 0)
    assert add_business_minutes(new_york, night, 241) == at("America/New_York", 2026, 11, 1, 9, 1)


def test_opening_inside_the_spring_gap_opens_after_the_jump() -> None:
    nights = cal("Europe/Berlin", [[["02:30", "05:00"]]] * 7)
    day = at("Europe/Berlin", 2026, 3, 29, 0, 0)
    # 02:30 does not exist on Mar 29; read with the winter offset it is 03:30 summer time.
    assert add_business_minutes(nights, day, 0) == at("Europe/Berlin", 2026, 3, 29, 3, 30)
    assert business_minutes_between(nights, day, at("Europe/Berlin", 2026, 3, 30, 0, 0)) == 90


def test_between_and_add_agree_on_random_instants() -> None:
    rng = random.Random(5)
    for zone in ("Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata", "Australia/Sydney"):
        calendar = cal(zone, SPLIT_DAY, holidays=[dt.date(2026, 3, 30)], yearly=[(1, 1)])
        for _ in range(150):
            start = dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=rng.randrange(365 * 24 * 60))
            minutes = rng.randrange(0, 5000)
            due = add_business_minutes(calendar, start, minutes)
            assert due >= start
            assert business_minutes_between(calendar, start, due) == pytest.approx(minutes)


def test_bad_definitions_are_refused_with_reasons() -> None:
    with pytest.raises(CalendarError, match="seven days"):
        parse_week([[]] * 6)
    with pytest.raises(CalendarError, match="Monday: 17:00-09:00 ends before it starts"):
        parse_week([[["17:00", "09:00"]]] + [[]] * 6)
    with pytest.raises(CalendarError, match="Tuesday: intervals overlap at 11:00"):
        parse_week([[], [["09:00", "12:00"], ["11:00", "13:00"]]] + [[]] * 5)
    with pytest.raises(CalendarError, match="not a time"):
        parse_week([[["9am", "17:00"]]] + [[]] * 6)
    with pytest.raises(CalendarError, match="known time zone"):
        cal("Mars/Olympus")
    with pytest.raises(CalendarError, match="aware"):
        add_business_minutes(cal(), dt.datetime(2026, 1, 1), 5)
    with pytest.raises(CalendarError, match="not open"):
        add_business_minutes(cal(week=[[]] * 7), dt.datetime(2026, 1, 1, tzinfo=UTC), 5)
