"""Business-hours arithmetic, pure: no database, no Django.

A `Calendar` is a week of opening intervals in local wall-clock time (several a day: 09:00-12:30 and
13:30-18:00), an IANA time zone and a set of closed dates (one-off, or recurring every year by month and
day). Two questions are answered on it:

- `add_business_minutes(calendar, start, minutes)`: the instant at which `minutes` of open time have
  passed since `start`. A start outside the hours counts from the next opening.
- `business_minutes_between(calendar, start, end)`: the open time between two instants.

Intervals are wall-clock times of their own local date, turned into real instants with zoneinfo, so a
day on which the clocks change has the length it really has (an all-day interval is 23 or 25 hours), and
an opening at a time that does not exist that day (inside the spring-forward gap) opens when the clock
shows it again after the jump. Open time is real elapsed time inside the intervals.

Each calendar keeps the intervals of the dates it has seen as UTC instants, so a sweep or a bulk start
over thousands of handoffs converts each date once.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.UTC
MINUTES_PER_DAY = 24 * 60
WEEKDAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# A clock never looks further than this for open time: a calendar open a few minutes a year still
# answers, a calendar that is never open (every day a holiday) raises instead of looping.
HORIZON_DAYS = 3 * 366

Interval = tuple[int, int]  # minutes from local midnight, end exclusive, 0 <= start < end <= 1440
Week = tuple[tuple[Interval, ...], ...]  # Monday first, seven entries
Span = tuple[dt.datetime, dt.datetime]  # an open interval as UTC instants

_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


class CalendarError(ValueError):
    """A week, an interval or a time zone that cannot make a calendar; the message says which."""


def parse_time(text: str) -> int:
    """'09:30' → 570 minutes after midnight; '24:00' is the end of the day."""
    match = _TIME.match(text)
    if not match:
        raise CalendarError(f"'{text}' is not a time like 09:00.")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise CalendarError(f"'{text}' is not a time of day (00:00 to 24:00).")
    return hours * 60 + minutes


def format_time(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_day(intervals: Iterable[Sequence[str]], *, day: str = "") -> tuple[Interval, ...]:
    """[["09:00", "12:30"], ["13:30", "18:00"]] → ((540, 750), (810, 1080)), checked: each interval
    starts before it ends, and they neither overlap nor touch out of order."""
    where = f"{day}: " if day else ""
    parsed: list[Interval] = []
    for pair in intervals:
        if len(pair) != 2:
            raise CalendarError(f"{where}an interval has a start and an end, like 09:00-17:00.")
        start, end = parse_time(str(pair[0])), parse_time(str(pair[1]))
        if start >= end:
            raise CalendarError(f"{where}{format_time(start)}-{format_time(end)} ends before it starts.")
        parsed.append((start, end))
    parsed.sort()
    for (_, end), (start, _) in itertools.pairwise(parsed):
        if start < end:
            raise CalendarError(f"{where}intervals overlap at {format_time(start)}.")
    return tuple(parsed)


def parse_week(week: Sequence[Iterable[Sequence[str]]]) -> Week:
    """Seven days (Monday first) of intervals as stored: [[["09:00", "17:00"]], ..., [], []]."""
    if len(week) != 7:
        raise CalendarError("A week has seven days, Monday first.")
    return tuple(parse_day(day, day=WEEKDAYS[index]) for index, day in enumerate(week))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError(f"'{name}' is not a known time zone (an IANA name like Europe/Berlin).") from exc


@dataclass(frozen=True)
class Calendar:
    tz: ZoneInfo
    week: Week
    holidays: frozenset[dt.date] = frozenset()
    # (month, day) closed every year
    yearly: frozenset[tuple[int, int]] = frozenset()
    _spans: dict[dt.date, tuple[Span, ...]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise CalendarError("A week has seven days, Monday first.")

    @classmethod
    def build(
        cls,
        *,
        timezone: str,
        week: Sequence[Iterable[Sequence[str]]],
        holidays: Iterable[dt.date] = (),
        yearly: Iterable[dt.date | tuple[int, int]] = (),
    ) -> Calendar:
        return cls(
            tz=zone(timezone),
            week=parse_week(week),
            holidays=frozenset(holidays),
            yearly=frozenset((d.month, d.day) if isinstance(d, dt.date) else d for d in yearly),
        )

    @property
    def weekly_minutes(self) -> int:
        return sum(end - start for day in self.week for start, end in day)

    def is_closed(self, day: dt.date) -> bool:
        return day in self.holidays or (day.month, day.day) in self.yearly

    def spans(self, day: dt.date) -> tuple[Span, ...]:
        """The open intervals of a local date as UTC instants (cached per date)."""
        cached = self._spans.get(day)
        if cached is not None:
            return cached
        spans: list[Span] = []
        if not self.is_closed(day):
            for start, end in self.week[day.weekday()]:
                opening, closing = self._instant(day, start), self._instant(day, end)
                if closing > opening:
                    spans.append((opening, closing))
        result = tuple(spans)
        self._spans[day] = result
        return result

    def _instant(self, day: dt.date, minute: int) -> dt.datetime:
        if minute >= MINUTES_PER_DAY:
            day, minute = day + dt.timedelta(days=1), minute - MINUTES_PER_DAY
        local = dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=self.tz)
        # fold=0: an ambiguous time (autumn) is its first occurrence; a time in the spring gap is read
        # with the offset before the jump, which lands after the gap.
        return local.astimezone(UTC)

    def local_date(self, instant: dt.datetime) -> dt.date:
        return _aware(instant).astimezone(self.tz).date()


def _aware(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise CalendarError("Business-hours arithmetic needs aware datetimes.")
    return instant


def add_business_minutes(calendar: Calendar, start: dt.datetime, minutes: float) -> dt.datetime:
    """The instant when `minutes` of open time have passed since `start` (UTC). Zero minutes gives the
    next opening, or `start` itself when it is inside the hours."""
    if minutes < 0:
        raise CalendarError("Business minutes to add cannot be negative.")
    start = _aware(start).astimezone(UTC)
    remaining = dt.timedelta(minutes=minutes)
    # The previous date too: with the spring gap an opening read before the jump may land on it.
    day = calendar.local_date(start) - dt.timedelta(days=1)
    for _ in range(HORIZON_DAYS):
        for opening, closing in calendar.spans(day):
            if closing <= start:
                continue
            opening = max(opening, start)
            available = closing - opening
            if remaining <= available:
                return opening + remaining
            remaining -= available
        day += dt.timedelta(days=1)
    raise CalendarError(f"These business hours are not open {minutes:g} minutes within {HORIZON_DAYS} days.")


def business_seconds_between(calendar: Calendar, start: dt.datetime, end: dt.datetime) -> float:
    start, end = _aware(start).astimezone(UTC), _aware(end).astimezone(UTC)
    if end <= start:
        return 0.0
    total = dt.timedelta()
    day, last = calendar.local_date(start) - dt.timedelta(days=1), calendar.local_date(end)
    while day <= last:
        for opening, closing in calendar.spans(day):
            low, high = max(opening, start), min(closing, end)
            if high > low:
                total += high - low
        day += dt.timedelta(days=1)
    return total.total_seconds()


def business_minutes_between(calendar: Calendar, start: dt.datetime, end: dt.datetime) -> float:
    """Open time between two instants in minutes (0 when `end` is not after `start`)."""
    return business_seconds_between(calendar, start, end) / 60


def is_open(calendar: Calendar, instant: dt.datetime) -> bool:
    instant = _aware(instant).astimezone(UTC)
    day = calendar.local_date(instant)
    return any(
        opening <= instant < closing
        for d in (day - dt.timedelta(days=1), day)
        for opening, closing in calendar.spans(d)
    )


def week_as_text(week: Week) -> list[list[list[str]]]:
    """A parsed week back in its stored form."""
    return [[[format_time(s), format_time(e)] for s, e in day] for day in week]


DEFAULT_WEEK_TEXT: list[list[list[str]]] = [[["09:00", "17:00"]]] * 5 + [[], []]
